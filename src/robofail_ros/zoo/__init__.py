"""The policy zoo: robomimic policies trained here, from demonstrations recorded here, then audited.

No dataset or model can be downloaded on the machines this project runs on, so the zoo
makes its own: the privileged scripted expert records demonstrations through the very
`Simulation` the audit uses (`demos`), robomimic trains one model per algorithm and
observation modality (`train`), checkpoints are cached outside the repository with
their provenance (`cache`), and `build` / `audit` drive the whole experiment. This
package imports no ROS; robomimic is imported only inside the functions that need it.
"""
