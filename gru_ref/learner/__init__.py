"""The learner's side: what the notebooks' test cells call and what runs beside the learner's code.

Everything here may be read and run by a learner: the grading box (gru_ref.grading.bwrap) and the
learners' wheel (book/_ext/learner_edition.py) are built from this folder. It holds no truth, no case
and no answer; it imports nothing of gru_ref outside this folder.
    check          what test cells call: check_gru_cell, check_my_gru, ... (asks the judge's process)
    registry       which check_* function checks which task, and its time limit (plain data)
    sandbox        runs the learner's function on the judge's cases, in a child process, with a time limit
    results, tensorfile  what crosses from here to the judge: raw tensors and checked text
    shape_answers  a shapes answer's ints read into int64 tensors, without running its methods
    text           message wrapping
"""
