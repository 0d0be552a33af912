"""The ``loco`` command line (:mod:`loco.cli`): the top of the package graph, above
:mod:`loco_sw`, :mod:`cosim` and :mod:`boards`."""
