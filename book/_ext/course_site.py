"""Sphinx glue for the course website.

1. Keeps the site self-contained: sphinx-thebe always writes a script that names thebe's CDN URL,
   even with thebe switched off. Thebe is off here, so its scripts and CSS are dropped.
2. Builds links from the one repository setting in _config.yml, as MyST substitutions:
   {{ colab_exercise }} opens the gru learner notebook in Colab ({{ colab_exercise_ID }} assignment
   ID's), {{ repo_link }} links the repository. {{ exercise_count }} and {{ exercise_pages }} count
   and link the exercise pages of _toc.yml's "Exercises" part, on every build (a chapter's executed
   cells are cached, and would not see a page added to the table of contents).
3. Writes the learners' edition (learner_edition.py) beside the pages after each build.
"""
import yaml

import learner_edition

EXERCISES = ("gru", "gru_bptt", "rnn", "gru_layers", "shapes", "train_gru")  # assignment ids: exercises/ID/ID.ipynb


def _repository(config):
    options = config.html_theme_options or {}
    url = str(options.get("repository_url", "")).rstrip("/")
    branch = options.get("repository_branch", "main") or "main"
    return url, branch


def _add_substitutions(app, config):
    # path_to_book "." (the repository root) would put "/./" into every launch link.
    if str(config.html_theme_options.get("path_to_docs", "")).strip("/") == ".":
        config.html_theme_options["path_to_docs"] = ""
    url, branch = _repository(config)
    if not url.startswith("https://github.com/"):
        raise ValueError(f"repository.url must be a GitHub URL, got {url!r}")
    owner_repo = url.removeprefix("https://github.com/")
    subs = dict(config.myst_substitutions or {})
    for name in EXERCISES:
        colab = f"https://colab.research.google.com/github/{owner_repo}/blob/{branch}/exercises/{name}/{name}.ipynb"
        subs[f"colab_exercise_{name}"] = f"[Open the exercise in Colab]({colab})"
    subs["colab_exercise"] = subs["colab_exercise_gru"]
    subs["repo_link"] = f"[{owner_repo}]({url})"
    pages = exercise_pages()
    subs["exercise_count"] = str(len(pages))
    links = [f"{{doc}}`{page.rsplit('/', 1)[-1]} </{page}>`" for page in pages]  # named by assignment id
    subs["exercise_pages"] = ", ".join(links[:-1]) + " and " + links[-1] if len(links) > 1 else "".join(links)
    config.myst_substitutions = subs


def exercise_pages(root=learner_edition.ROOT):
    """The docnames of the exercise pages, in the order of the "Exercises" part of _toc.yml."""
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    return [chapter["file"] for part in toc.get("parts", []) if part.get("caption") == "Exercises"
            for chapter in part.get("chapters", [])]


def _is_thebe(script):
    filename = getattr(script, "filename", None) or ""
    body = getattr(script, "attributes", {}).get("body", "")
    return "thebe" in filename or "THEBE_JS_URL" in body


def _drop_thebe(app, pagename, templatename, context, doctree):
    if app.config.html_theme_options.get("launch_buttons", {}).get("thebe"):
        return
    if "script_files" in context:
        context["script_files"] = [s for s in context["script_files"] if not _is_thebe(s)]
    if "css_files" in context:
        context["css_files"] = [s for s in context["css_files"] if not _is_thebe(s)]


def setup(app):
    app.connect("config-inited", _add_substitutions)
    # Run after sphinx-thebe and the theme have added their scripts.
    app.connect("html-page-context", _drop_thebe, priority=900)
    app.connect("build-finished", learner_edition.on_build_finished)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
