"""Sphinx configuration of the static book (``make book``; the sources are staged by tools/build_book.py).

myst-nb reads the stored notebooks without executing them. Everything a page needs is copied
into the build, so the book works offline and opened from disk: MathJax 3 (``tex-svg-full.js``,
fonts and TeX extensions included, from npm) renders the equations, Sphinx's built-in
``alabaster`` theme (no web fonts, no CDN) gives the navigation between pages, and the live
explorers load their runtime from ``_static/aenb/`` (see book/static/aenb-explorer.js).
"""

project = "aenb — autoencoders, notebook by notebook"
author = "aenb"
extensions = ["myst_nb"]

# The stored outputs are the book: never execute a notebook here.
nb_execution_mode = "off"
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
suppress_warnings = ["mystnb.unknown_mime_type"]

html_theme = "alabaster"
html_title = project
html_static_path = ["_static"]
html_css_files = ["aenb/aenb-book.css"]
html_sidebars = {"**": ["about.html", "navigation.html", "relations.html", "searchbox.html"]}
html_theme_options = {"description": "a tested JupyterLab tutorial series, as a book", "fixed_sidebar": True,
                      "show_relbars": True}
html_show_sourcelink = False
html_copy_source = False
# Relative to _static; tools/build_book.py copies it there from book/node_modules.
mathjax_path = "mathjax/tex-svg-full.js"
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
