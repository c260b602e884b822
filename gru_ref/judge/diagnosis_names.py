"""The stable, machine-readable name of what a failing verdict diagnosed, stored with the verdict so
that the class report groups learners by it and a comment can be written once per group.

A known mistake keeps its own name (`z_swapped`, `reverse_not_rereversed`, ...). Every other failure
gets one of the names below, found by the words its message is built from. Trusted (judge side).
"""
UNKNOWN = "unknown_mistake"  # values wrong, and none of the known mistakes matches
OTHER = "other"

# (words a failing message holds, stable name, what the report calls it): first match wins.
OTHER_DIAGNOSES = (
    ("built-in recurrent kernel", "builtin_kernel", "built-in recurrent kernel refused"),
    ("native code is not allowed", "native_code", "native code refused"),
    ("the grader's own code was changed", "grader_code_changed", "grader's own code changed"),
    ("ran torch operators", "shapes_read_off_torch", "shapes read off torch, not computed"),
    ("stopped the grader's record", "record_stopped", "grader's record of torch operators stopped"),
    ("asks for the gradient by hand", "autodiff_used", "autodiff in the by-hand gradient"),
    ("The first wrong axis", "wrong_output_shape", "wrong output shape"),
    ("training diverged", "training_diverged", "training diverged (NaN or inf logits)"),  # train_gru's retrains
    ("far below guessing", "fixed_rule_predictions", "predictions ignore train_y (a fixed rule)"),
    ("same class for every sequence", "one_class_for_all", "model did not learn (one class for all)"),
    ("It guesses", "guesses", "model did not learn (guesses)"),
    ("learned part of the task", "learned_part", "model learned part of the task"),
    ("did not finish within", "training_too_slow", "training too slow"),
    ("did not return within", "too_slow", "too slow, or never returns"),
    ("was not graded: the grader received its results twice", "results_forged", "results written twice"),
    ("it is too large", "too_large", "notebook too large"),
    ("NotImplementedError", "not_attempted", "not attempted"),
    ("is not defined", "function_missing", "function missing"),
    ("not checked", "stopped_before_test", "notebook stopped before the test"),
    ("ended abruptly", "process_ended", "process ended by the answer"),
    ("has shape", "wrong_output_shape", "wrong output shape"),
    ("has dtype", "wrong_dtype", "wrong dtype"),
    ("is on the device", "wrong_device", "wrong device"),
    ("agrees only to float32", "float32_only", "float32 precision only"),
    ("gradient", "gradients_wrong", "gradients wrong or cut off"),
    ("changed its argument", "arguments_modified", "arguments modified in place"),
    ("It ran out of memory", "out_of_memory", "ran out of memory"),  # the exception's hint (judge.diagnose)
    ("raised an exception", "raises", "raises an exception"),
    ("matches none of the common mistakes", UNKNOWN, "none of the known mistakes"),
)
PROSE = {name: prose for _, name, prose in OTHER_DIAGNOSES} | {OTHER: "other failure"}


def name_of(message, mistakes=()):
    """The stable name of a failing message: the known mistake whose lesson it states, else the first
    of OTHER_DIAGNOSES whose words it holds, else OTHER."""
    for mistake in sorted(mistakes, key=lambda m: -len(m.lesson)):  # a lesson that holds another's first
        if mistake.lesson in message:
            return mistake.name
    for needle, name, _ in OTHER_DIAGNOSES:
        if needle in message:
            return name
    return OTHER


def prose(name):
    """What the report and comments.yml call a diagnosis: `z_swapped` -> "z swapped"."""
    return PROSE.get(name) or name.replace("_", " ")
