"""`python -m gru_ref.precheck ASSIGNMENT` at the course root: the command; see gru_ref.grading.precheck."""
import sys

from gru_ref.grading.precheck import main

if __name__ == "__main__":
    sys.exit(main())
