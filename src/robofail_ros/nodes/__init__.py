"""ROS 2 nodes: thin wiring of topics, services and parameters to the core. The only rclpy importers."""
