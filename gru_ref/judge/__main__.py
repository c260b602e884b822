"""`python -I -m gru_ref.judge`: the judge process the notebook checks talk to (gru_ref.learner.check)."""
from gru_ref.judge.judge import serve

serve()
