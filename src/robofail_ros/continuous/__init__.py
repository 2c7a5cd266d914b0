"""Analysis of a continuous audit: P(failure | scene), thresholds, Sobol indices, failure rules.

Everything here works on arrays of scenes and outcomes and knows nothing of the simulator or ROS, so it
is tested on synthetic outcomes whose truth is known.
"""
