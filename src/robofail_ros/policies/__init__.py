"""Policies under test, and the one function that turns a user's policy spec into an instance.

Specs: `vision` (default), `expert`, `robomimic:PATH` for a robomimic checkpoint (a `.pth`
file or a zoo model folder; needs the zoo extra), or `package.module:ClassName` for any
class implementing `PolicyUnderTest`. Nothing from a spec is evaluated as code beyond
importing the named module, which the user controls.
"""
from __future__ import annotations

import importlib

from robofail_ros.policies.base import PolicySpecError, PolicyUnderTest
from robofail_ros.policies.expert import ScriptedExpert
from robofail_ros.policies.vision import VisionScriptedPolicy

BUILTIN_POLICIES = {"vision": VisionScriptedPolicy, "expert": ScriptedExpert}
DEFAULT_POLICY = "vision"
ROBOMIMIC_PREFIX = "robomimic:"


def load_policy(spec: str) -> PolicyUnderTest:
    """Instantiate the policy named by `spec` (see module docstring).

    Whatever goes wrong, including the user's constructor raising, is one PolicySpecError naming the spec: the
    audit loads the policy here before any worker starts, so the user sees that line instead of a traceback.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise PolicySpecError(f"empty policy spec {spec!r}; accepted: {', '.join(BUILTIN_POLICIES)}, "
                              "robomimic:PATH, or package.module:ClassName")
    if spec in BUILTIN_POLICIES:
        return BUILTIN_POLICIES[spec]()
    if spec.startswith(ROBOMIMIC_PREFIX):
        from robofail_ros.policies.robomimic_policy import RobomimicPolicy  # torch/robomimic only when asked for

        return _construct(spec, RobomimicPolicy, spec[len(ROBOMIMIC_PREFIX):])
    accepted = f"accepted: {', '.join(BUILTIN_POLICIES)}, robomimic:PATH, or package.module:ClassName"
    if ":" not in spec:
        raise PolicySpecError(f"unknown policy {spec!r}; {accepted}")
    module_name, _, class_name = spec.partition(":")
    if not module_name or not class_name.isidentifier():
        raise PolicySpecError(f"malformed policy spec {spec!r}; {accepted}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise PolicySpecError(f"cannot import module {module_name!r} for policy {spec!r}: {exc}") from None
    cls = getattr(module, class_name, None)
    if cls is None:
        raise PolicySpecError(f"module {module_name!r} has no attribute {class_name!r}")
    if not (isinstance(cls, type) and issubclass(cls, PolicyUnderTest)):
        raise PolicySpecError(f"{spec!r} is not a PolicyUnderTest subclass (start_episode() + __call__(obs))")
    policy = _construct(spec, cls)
    if policy.policy_id == PolicyUnderTest.policy_id:
        policy.policy_id = spec
    return policy


def _construct(spec: str, cls: type, *args: object) -> PolicyUnderTest:
    """`cls(*args)`, with any exception it raises turned into one PolicySpecError naming the spec."""
    try:
        return cls(*args)
    except PolicySpecError:
        raise
    except Exception as exc:  # noqa: BLE001 (user code: anything may come out, and all of it means one thing)
        raise PolicySpecError(f"policy {spec!r}: {cls.__name__}() raised {type(exc).__name__}: {exc}") from None


__all__ = ["PolicyUnderTest", "ScriptedExpert", "VisionScriptedPolicy", "load_policy", "PolicySpecError"]
