"""Icons from ``resources/icons`` (SVG), rendered once per size and cached.

Delegates paint channel badges hundreds of times a second while scrolling; rendering an SVG each
time would be far too slow, so :class:`IconCache` keeps one pixmap per (name, size, pixel ratio).
"""

from __future__ import annotations

from importlib import resources

from PySide6.QtCore import QByteArray, QRectF, Qt
from PySide6.QtGui import QIcon, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer


def _svg_bytes(name: str) -> bytes:
    path = resources.files("resources").joinpath(f"icons/{name}.svg")
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return resources.files("resources").joinpath("icons/app.svg").read_bytes()


class IconCache:
    """Pixmaps of the SVG icons, keyed by name, logical size and device pixel ratio."""

    def __init__(self) -> None:
        self._renderers: dict[str, QSvgRenderer] = {}
        self._pixmaps: dict[tuple[str, int, float], QPixmap] = {}

    def _renderer(self, name: str) -> QSvgRenderer:
        renderer = self._renderers.get(name)
        if renderer is None:
            renderer = QSvgRenderer(QByteArray(_svg_bytes(name)))
            self._renderers[name] = renderer
        return renderer

    def pixmap(self, name: str, size: int, ratio: float = 1.0) -> QPixmap:
        key = (name, size, ratio)
        pixmap = self._pixmaps.get(key)
        if pixmap is None:
            side = max(1, round(size * ratio))
            pixmap = QPixmap(side, side)
            pixmap.fill(Qt.GlobalColor.transparent)
            painter = QPainter(pixmap)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            self._renderer(name).render(painter, QRectF(0, 0, side, side))
            painter.end()
            pixmap.setDevicePixelRatio(ratio)
            self._pixmaps[key] = pixmap
        return pixmap

    def icon(self, name: str) -> QIcon:
        icon = QIcon()
        for size in (16, 24, 32, 64):
            icon.addPixmap(self.pixmap(name, size))
        return icon
