"""The trusted judge: draws the cases, computes the truth with torch.nn, rules, and names the likely
mistake. It never runs learner code, and the grading box never shows it. The learners' wheel ships it,
so that their own checker judges in a process of its own (`python -I -m gru_ref.judge`); it holds no
answer (tests/test_layout.py tries every function of the wheel and reads its code).
    judge      the Judge: cases in, verdict out; `python -m gru_ref.judge` serves the notebook checks
    cases      a recurrent case, its tolerances, random inputs and the truth from a task's torch.nn module
    mistakes   what a known mistake is (name, lesson, knobs: data); its code is gru_ref.reference's
    mistake_table  the learners' edition's diagnosis: the mistakes' outputs on fixed cases
    diagnose   the messages that name what is wrong and where it shows
    diagnosis_names  the stable name of a failure's diagnosis, stored with each verdict (the report's groups)
    secret     the course's secret and the keys a learner's hidden cases are drawn from
The tasks themselves, one module per assignment, are in gru_ref.assignments.
"""


def __getattr__(name):
    # `from gru_ref.judge import Judge`: loaded on first use, so that importing gru_ref.judge.cases (as
    # the assignments do) does not import the judge, which imports the assignments.
    if name in ("Judge", "Verdict", "rule_on_file", "serve", "DEFAULT_PARTS"):
        from gru_ref.judge import judge
        return getattr(judge, name)
    raise AttributeError(f"module 'gru_ref.judge' has no attribute {name!r}")
