"""An episode records how far it got: the furthest stage of its task, read off the simulation (task_stages.py)."""
import numpy as np
import pytest

from robofail_ros.episode import EpisodeRecord, run_episode
from robofail_ros.obs_codec import record_from_strings, record_to_strings
from robofail_ros.policies.expert import ScriptedExpert
from robofail_ros.task_stages import NONE, NOT_RECORDED, stage_names


class ExpertThatStops(ScriptedExpert):
    """The privileged expert, frozen in place (gripper as it was) from the moment its script enters `phase`:
    a policy that fails at a known point of the task."""

    def __init__(self, phase: str) -> None:
        super().__init__()
        self.stop_phase, self.grip = phase, -1.0

    def __call__(self, obs):
        if self.script.phase == self.stop_phase:
            action = np.zeros(self.scene.action_dim)
            action[-1] = self.grip
            return action
        action = super().__call__(obs)
        self.grip = float(action[-1])
        return action


@pytest.fixture(scope="module")
def stack_sim():
    from robofail_ros.sim import SimConfig, Simulation

    sim = Simulation(SimConfig(task="Stack"))
    yield sim
    sim.close()


def episode(sim, policy, seed: int = 3):
    policy.bind(sim.scene)
    return run_episode(sim, policy, [], seed)


def test_every_task_names_its_stages_in_order():
    assert stage_names("Lift") == (NONE, "grasped the cube", "lifted the cube")
    assert stage_names("Stack") == (NONE, "grasped cube A", "lifted cube A", "cube A over cube B")
    assert stage_names("PickPlaceCan")[1] == "grasped the can"
    assert stage_names("NutAssemblySquare")[1] == "grasped the nut"
    assert stage_names("NoSuchTask") == ()


def test_a_lift_failure_says_whether_the_cube_was_ever_grasped(clean_lift_sim):
    never_moves = episode(clean_lift_sim, ExpertThatStops("above"))
    holds_it = episode(clean_lift_sim, ExpertThatStops("lift"))
    assert never_moves.failed and never_moves.stage == NONE
    assert holds_it.failed and holds_it.stage == "grasped the cube"


def test_a_lift_success_has_lifted_the_cube(clean_lift_sim):
    done = episode(clean_lift_sim, ScriptedExpert())
    assert done.success and done.stage == "lifted the cube"


def test_a_stack_failure_says_whether_cube_a_was_grasped_lifted_or_carried_over_cube_b(stack_sim):
    grasped = episode(stack_sim, ExpertThatStops("lift"))
    lifted = episode(stack_sim, ExpertThatStops("carry"))
    over = episode(stack_sim, ExpertThatStops("release"))  # lowered onto cube B, never let go
    stacked = episode(stack_sim, ScriptedExpert())
    assert [r.failed for r in (grasped, lifted, over)] == [True, True, True]
    assert (grasped.stage, lifted.stage, over.stage) == ("grasped cube A", "lifted cube A", "cube A over cube B")
    assert stacked.success and stacked.stage == "cube A over cube B"


def test_the_stage_travels_with_the_record_through_the_log_and_the_ros_outcome_topic(clean_lift_sim):
    record = episode(clean_lift_sim, ExpertThatStops("lift"))
    assert EpisodeRecord.from_json(record.to_json()).stage == "grasped the cube"
    assert EpisodeRecord.from_json(record_from_strings(record_to_strings(record.to_json()))).stage == record.stage


def test_a_record_logged_before_stages_existed_still_loads_with_no_stage(clean_lift_sim):
    old = episode(clean_lift_sim, ExpertThatStops("lift")).to_json()
    del old["stage"]
    assert EpisodeRecord.from_json(old).stage == NOT_RECORDED


# -- the report: where failures stopped ------------------------------------------------------------------------------
def record(i: int, perturbations, outcome: str, stage: str, task: str = "Stack", scene=None) -> EpisodeRecord:
    return EpisodeRecord(episode_id=f"e{i}", seed=i, perturbations=list(perturbations), outcome=outcome, steps=10,
                         reward=0.0, wall_time=0.0, policy_id="p", task=task, scene=scene, stage=stage)


def test_failures_are_counted_by_stage_per_experiment_control_first_then_most_failures(tmp_path):
    from robofail_ros.failure_stages import count_stages, stage_note
    from robofail_ros.report.stages import write_failure_stages

    records = [record(0, [], "failure", "lifted cube A"), record(1, [], "success", "cube A over cube B"),
               record(2, ["table_red"], "failure", NONE), record(3, ["table_red"], "failure", "grasped cube A"),
               record(4, ["table_red"], "failure", NONE), record(5, ["cube_big"], "failure", "lifted cube A"),
               record(6, ["cube_big"], "aborted", NONE), record(7, ["light_dim"], "failure", NOT_RECORDED)]
    counts = count_stages(records)
    assert [(c.label, c.episodes, c.failed) for c in counts] == [("control", 2, 1), ("table_red", 3, 3),
                                                                  ("cube_big", 1, 1)]
    assert counts[1].failures == {NONE: 2, "grasped cube A": 1}
    assert stage_note(records) == "failures by the furthest stage reached: none 2, grasped cube A 1, lifted cube A 2"
    files = write_failure_stages(records, tmp_path)
    assert [p.name for p in files] == ["failure_stages.csv", "failure_stages.png"]
    rows = (tmp_path / "failure_stages.csv").read_text().splitlines()
    assert rows[0] == ("experiment,episodes,failures,failed at: none,failed at: grasped cube A,"
                       "failed at: lifted cube A,failed at: cube A over cube B")
    assert rows[2] == "table_red,3,3,2,1,0,0"


def test_a_log_without_stages_writes_no_stage_report_and_no_note(tmp_path):
    from robofail_ros.failure_stages import stage_note
    from robofail_ros.report.stages import write_failure_stages

    old = [record(i, [], "failure", NOT_RECORDED, task="Lift") for i in range(3)]
    assert write_failure_stages(old, tmp_path) == [] and stage_note(old) is None


def test_a_continuous_audits_scenes_are_one_experiment_beside_the_control():
    from robofail_ros.failure_stages import SEARCHED_SCENES, count_stages

    records = [record(0, [], "success", "lifted cube A"),
               *(record(i, [], "failure", NONE, scene={"cube_hue": 0.1 * i}) for i in range(1, 4))]
    assert [(c.label, c.failed) for c in count_stages(records)] == [("control", 0), (SEARCHED_SCENES, 3)]
