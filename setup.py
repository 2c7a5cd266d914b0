from glob import glob

from setuptools import find_packages, setup

package_name = "robofail_ros"

setup(
    name=package_name,
    version="0.1.0",
    package_dir={"": "src"},
    packages=find_packages("src"),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
        ("share/" + package_name + "/launch", glob("launch/*.py")),
        ("share/" + package_name + "/config", glob("config/*.yaml") + glob("config/*.rviz") + glob("config/*.perspective")),
        ("share/" + package_name + "/config/perturbations", glob("config/perturbations/*.yaml")),
    ],
    install_requires=["setuptools"],
    extras_require={"zoo": ["torchvision==0.29.1", "robomimic==0.3.0"]},
    zip_safe=True,
    maintainer="robofail developers",
    maintainer_email="dev@robofail.local",
    description="Find under which scene conditions a manipulation policy fails, and how likely each failure is.",
    license="MIT",
    entry_points={
        "console_scripts": [
            "robofail = robofail_ros.cli:main",
            "simulator = robofail_ros.nodes.simulator:main",
            "policy = robofail_ros.nodes.policy:main",
            "perturbation = robofail_ros.nodes.perturbation:main",
            "adversary = robofail_ros.nodes.adversary:main",
            "analysis = robofail_ros.nodes.analysis:main",
        ],
    },
)
