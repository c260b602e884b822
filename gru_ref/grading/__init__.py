"""Grading a class: every submission's code in an OS sandbox, judged outside it on tensors alone.

Trusted (the grader's process; never imports or runs learner code):
    plan        a submitted notebook -> the learner's cells to run, the checks to judge
    integrity   a static scan that flags code with no place in an answer, for manual review
    reach       what a function's code can reach when it runs (the scan's "never reaches my_gru")
    scanner     that scan in a forked child of a warm process, under CPU, memory and time limits
    bwrap       the bubblewrap command line of the box
    box         one warm box, restarted whenever a submission broke it
    submission  grade one notebook: cases in, tensors out, the judge rules (too large: refused)
    pids        a pids cgroup per box, where one can be made
    learner_text  whatever a learner wrote, written out as text (Markdown, HTML, CSV, ids)
    formgrader_escape  a Jupyter server extension: nbgrader's formgrader pages escape what they write
Inside the box (untrusted from the moment learner code runs):
    template    the warm process: forks a child per submission, hands out cases in order, cleans up
    runner      the child: limits, seccomp, the learner's cells, the checked functions
    seccomp     the kernel filter: no new programs or processes, no signals to others
    scratch     the writable folders bounded in files (noexec), then no capability left
    native_guard  the audit hook: no native code, no change to the box's functions
    own_code    a fingerprint of the box's own code, compared around each check
Both sides:
    frames      length-prefixed messages with deadlines and size bounds
"""
