# robofail_ros on a ROS 2 base image.
#   docker build -t robofail_ros .                         (ARG ROS_DISTRO=kilted by default)
#   docker run --rm -v "$PWD/audits:/ws/audits" robofail_ros
# The image builds the package with colcon; rclpy and the message packages come from the base image,
# the simulation and learning stack from pip (requirements.txt minus the ros-* wheels).
ARG ROS_DISTRO=kilted
FROM ros:${ROS_DISTRO}-ros-base
ARG ROS_DISTRO
# Set PIP_EXTRA_INDEX_URL at build time to take torch's CPU-only wheel instead of the CUDA build.
ARG PIP_EXTRA_INDEX_URL=""
ENV MUJOCO_GL=egl PYOPENGL_PLATFORM=egl PIP_BREAK_SYSTEM_PACKAGES=1 PIP_EXTRA_INDEX_URL=${PIP_EXTRA_INDEX_URL}

RUN apt-get update && apt-get install -y --no-install-recommends \
        python3-pip libegl1 libgl1 libgl1-mesa-dri libglx-mesa0 \
        ros-${ROS_DISTRO}-std-srvs ros-${ROS_DISTRO}-sensor-msgs ros-${ROS_DISTRO}-diagnostic-msgs \
        ros-${ROS_DISTRO}-visualization-msgs ros-${ROS_DISTRO}-launch-ros \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /ws
COPY requirements.txt /tmp/requirements.txt
RUN grep -v '^ros-' /tmp/requirements.txt > /tmp/requirements-pip.txt \
    && pip3 install --no-cache-dir --ignore-installed -r /tmp/requirements-pip.txt

COPY . /ws/src/robofail_ros
RUN . /opt/ros/${ROS_DISTRO}/setup.sh && colcon build --packages-select robofail_ros \
    && rm -rf /ws/build /ws/log

# Source the workspace in every shell and for the default command.
RUN echo ". /opt/ros/${ROS_DISTRO}/setup.sh && . /ws/install/setup.sh" > /ros_env.sh
# `docker stop` sends STOPSIGNAL to the launch, which forwards SIGINT node by node: every node stops within a second
# and the adversary writes the report of the episodes done so far (allow it: `docker stop -t 30`).
STOPSIGNAL SIGINT
ENTRYPOINT ["/bin/bash", "-c", ". /ros_env.sh && exec \"$@\"", "--"]
CMD ["ros2", "launch", "robofail_ros", "audit.launch.py", "out_dir:=/ws/audits/ros"]
