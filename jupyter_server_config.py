"""Jupyter server configuration for the formgrader: start Jupyter at the course root with it,
`jupyter lab --config=jupyter_server_config.py`.

nbgrader's formgrader writes student ids into its pages unescaped: gru_ref's extension escapes them
(gru_ref/grading/formgrader_escape.py).
"""
c = get_config()  # noqa: F821 (Jupyter provides it)
c.ServerApp.jpserver_extensions.update({"gru_ref.grading.formgrader_escape": True})
