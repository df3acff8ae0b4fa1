"""Embedding a self-contained meshcat HTML page in a Jupyter notebook."""
import html as html_lib


def srcdoc_iframe(page_html, height=400):
    """<iframe> markup showing `page_html` inline through srcdoc (escaped for the attribute)."""
    # the div lets a notebook user drag the corner to resize, as meshcat's own cells do
    return ('<div style="height: %dpx; width: 100%%; overflow: hidden; resize: both">'
            '<iframe srcdoc="%s" style="width: 100%%; height: 100%%; border: none"></iframe>'
            '</div>' % (int(height), html_lib.escape(page_html, quote=True)))


def iframe_html(page_html, height=400):
    """IPython.display.HTML wrapping `page_html` in a fixed-height iframe.

    The iframe keeps the page's scripts and styles apart from the notebook's, and the page
    needs no server, so it also works for remote kernels and in saved notebooks.
    """
    from IPython.display import HTML  # imported here: only notebooks need IPython
    return HTML(srcdoc_iframe(page_html, height))
