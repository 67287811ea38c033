"""The parts the main window is assembled from. Each part owns its widgets (and docks),
follows the :class:`ichviewer.ui.state.ViewerState` (and, for the AI, the window's
:class:`ichviewer.ui.ai_controller.AIController`) and updates its widgets with their
signals blocked; parts do not call each other. The window creates them, places their docks
and builds the menus on their methods.

    loading.py    LoadingPart    opening studies, progress, series picker, unreadable files
    image.py      ImagePart      the slice view, slider, display (windows), W/L drag, cine
    ai_panels.py  AIPanelsPart   probabilities of the slice, study profile, flags, scoring
    model.py      ModelPart      the model's state, choosing and describing it
    heatmap.py    HeatmapPart    the CAM overlay and its controls
    review.py     ReviewPart     second read: flagged-slice list and the reader's marks
    exports.py    ExportPart     results (JSON/CSV) and the view as PNG
    worklist.py   WorklistPart   a folder of studies scored in the background
"""
