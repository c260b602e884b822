"""`python -m gru_ref.similarity ASSIGNMENT`: pairs of submissions to read side by side (the code is
gru_ref/grading/similarity.py)."""
import sys

from gru_ref.grading.similarity import main

if __name__ == "__main__":
    sys.exit(main())
