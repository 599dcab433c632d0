"""Every line of PySide6 in Agent Console: windows, item models, views, delegates and panels."""
