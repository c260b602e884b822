"""A Jupyter server extension: nbgrader's formgrader pages with every value they write escaped.

nbgrader 0.9.6 renders its own formgrader pages (manage_students/ID, ...) with Jinja's autoescape off
and writes the student id, from the URL or from a folder's name in submitted/, into their HTML and
JavaScript as it is: a submitted folder named `<img src=x onerror=...>`, listed among the students,
ran script in the instructor's Jupyter origin when clicked. This turns autoescape on in that Jinja
environment once nbgrader has made it. `make setup` enables it in the course environment, as pip
does nbgrader's: formgrader_escape.json goes to .venv/etc/jupyter/jupyter_server_config.d/.
"""


def _jupyter_server_extension_points():
    return [{"module": "gru_ref.grading.formgrader_escape"}]


def _load_jupyter_server_extension(server_app):
    from tornado.ioloop import IOLoop
    settings = server_app.web_app.settings

    def escape_formgrader():  # after every extension has loaded: nbgrader's comes after this one
        environment = settings.get("nbgrader_jinja2_env")
        if environment is None:
            server_app.log.warning("gru_ref: nbgrader's formgrader is not loaded; nothing to escape")
            return
        environment.autoescape = True
        server_app.log.info("gru_ref: the formgrader's pages escape what they write")

    IOLoop.current().add_callback(escape_formgrader)
