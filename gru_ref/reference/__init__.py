"""The instructors' side: the course's reference answers, for the instructors, the book and the grader.
Neither the grading box nor the learners' wheel holds this folder (tests/test_layout.py).
    equations             the GRU in PyTorch's convention, written once
    mistakes/             the known mistakes of gru, rnn and gru_layers: knob for knob, their whole answers
    shapes_mistakes       the shapes assignment's known mistakes: knob for knob, its whole answer
"""
