"""What every request handler needs: the settings, the token check and the overrides store."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from customer_health.config import Settings
from customer_health.web.auth import TokenAuth
from customer_health.web.overrides import OverrideStore
from customer_health.web.table import Column, columns


@dataclass(frozen=True)
class WebContext:
    settings: Settings
    auth: TokenAuth
    overrides: OverrideStore

    @property
    def default_bands(self) -> list[str]:
        """The bands the at-risk list shows when none is chosen (config at_risk.bands)."""
        return list(self.settings.options.at_risk.bands)

    @property
    def columns(self) -> tuple[Column, ...]:
        """The at-risk table's columns (and its CSV's): personal ones as privacy allows."""
        return columns(self.settings.options.privacy.export_personal_data)


def context(request: Request) -> WebContext:
    return request.app.state.web
