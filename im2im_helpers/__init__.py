"""im2im_helpers: the small API behind the im2im tutorials.

Import the modules you need, as the tutorials do::

    from im2im_helpers import data, models, tasks, train, predict, metrics, viz
"""

__version__ = "0.1.0"

#: The repository the Colab setup cells install from; notebooks' badges and the book's
#: configuration must name the same one (a test checks).
REPOSITORY = "https://github.com/im2im-project/im2im"
