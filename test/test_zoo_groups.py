"""Failures a perturbation caused, counted against the control from the same initial state (zoo/groups.py)."""
from robofail_ros.catalogue import load_catalogue
from robofail_ros.episode import FAILURE, SUCCESS, EpisodeRecord
from robofail_ros.zoo.groups import APPEARANCE, PHYSICAL, group_effects, markdown_table, matched_control_text

LIFT = load_catalogue("Lift")


def record(seed: int, perturbations: list[str], failed: bool) -> EpisodeRecord:
    return EpisodeRecord(episode_id=f"{seed}-{'+'.join(perturbations)}", seed=seed, perturbations=perturbations,
                         outcome=FAILURE if failed else SUCCESS, steps=10, reward=0.0, wall_time=0.1,
                         policy_id="p", task="Lift")


def audit_of(policy) -> list[EpisodeRecord]:
    """Control from 4 initial states (state 3 fails unperturbed), then every perturbation from each state, twice."""
    control = [record(s, [], s == 3) for s in range(4)]
    swept = [record(s, [p.name], policy(s, p)) for p in LIFT.perturbations for s in range(4) for _ in range(2)]
    return control + swept


def by_group(records):
    return {e.group: e for e in group_effects(records, LIFT)}


def test_a_policy_blind_to_images_is_broken_by_no_appearance_edit_and_its_failing_state_is_not_blamed_on_anything():
    low_dim = by_group(audit_of(lambda seed, p: seed == 3 or p.group == "cube_size"))
    look = low_dim[APPEARANCE]
    assert look.broken == 0 and look.control_succeeded == 3 * look.experiments // 4  # state 3 left out: control failed
    assert look.ci_high < 0.1  # dozens of paired experiments bound it
    assert low_dim["cube_size"].broken_rate == 1.0 and low_dim[PHYSICAL].broken_rate < 1.0


def test_repeats_of_one_experiment_count_once_and_colour_breaks_an_image_policy():
    image = by_group(audit_of(lambda seed, p: seed == 3 or p.group in ("cube_colour", "table_colour")))
    colour = image["cube_colour"]
    n_cube_colours = sum(p.group == "cube_colour" for p in LIFT.perturbations)
    assert colour.experiments == 4 * n_cube_colours  # 8 episodes per perturbation, 4 experiments
    assert colour.text() == f"{3 * n_cube_colours}/{3 * n_cube_colours} = 100% [{colour.ci_low * 100:.0f}, 100]"
    assert image["camera_pose"].broken == 0


def test_the_matched_control_counts_only_the_initial_states_the_sweep_used():
    records = audit_of(lambda seed, p: False) + [record(9, [], True)]  # a control state the sweep never used
    assert matched_control_text(records) == "1/4 = 25% [5, 70]"
    table = markdown_table([("bc-image-lift", matched_control_text(records), group_effects(records, LIFT))])
    assert table.splitlines()[0].startswith(f"| model | control failures (the sweep's initial states) | {APPEARANCE} | {PHYSICAL} |")
