"""im2im_helpers: the small API behind the im2im tutorials.

Import the modules you need, as the tutorials do::

    from im2im_helpers import data, models, tasks, train, predict, metrics, viz
"""

__version__ = "0.1.0"
