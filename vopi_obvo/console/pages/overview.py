"""The overview: the health verdict (the same as `obvo status`), today's and this week's
notifications, and the charts: per day by channel, failures per day, the SMS bill (+ CSV)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from vopi_obvo.console import figures
from vopi_obvo.console.charts import PALETTE, Series, stacked_bars
from vopi_obvo.console.context import Console
from vopi_obvo.console.roles import Role
from vopi_obvo.console.texts import Translator
from vopi_obvo.console.views import Views, local_date
from vopi_obvo.ops import health
from vopi_obvo.ops.status import gather_status
from vopi_obvo.queries import q


def make_router(console: Console, views: Views) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/")
    def overview(request: Request) -> Response:
        signed = console.signed(request, Role.VIEWER)
        t = Translator(console.language(request))
        report = gather_status(console.engine, console.vopi, console.settings.health)
        now = console.clock()
        days = figures.day_range(now)
        months = figures.month_range(now)
        with console.engine.connect() as conn:
            today = figures.counts_since(conn, figures.start_of_day(now))
            week = figures.counts_since(conn, figures.start_of_day(now, 6))
            since = figures.start_of_day(now, figures.DAYS - 1)
            daily = [
                (r.day, r.channel, int(r.n))
                for r in conn.execute(q("console_daily_by_channel"), {"since": since})
            ]
            failures = [
                (r.day, int(r.n))
                for r in conn.execute(q("console_daily_failures"), {"since": since})
            ]
            bill = figures.sms_bill(conn, figures.start_of_month(now, figures.MONTHS - 1))
        labels = [f"{d.day}. {d.month}." for d in days]
        daily_series = [
            Series(t(f"channel_{s.name}"), s.values, s.colour)
            for s in figures.daily_by_channel(daily, days)
        ]
        failure_series = [Series(t("failures"), figures.daily_series(failures, days), PALETTE[4])]
        bill_series = figures.bill_series(bill, months)
        charts: dict[str, Any] = {
            "daily": stacked_bars(labels, daily_series, t("chart_daily_title"), every=5),
            "daily_series": daily_series,
            "failures": stacked_bars(labels, failure_series, t("chart_failures_title"), every=5),
            "failure_values": failure_series[0].values,
            "bill": stacked_bars(months, bill_series, t("chart_sms_bill_title")),
            "bill_series": bill_series,
        }
        return views.render(
            request,
            "overview.html",
            "overview_title",
            signed=signed,
            active="/",
            report=report,
            # The verdict of `obvo status`, worded in the page's language.
            health_problems=health.verdict(report, console.settings.health),
            periods=[("period_today", today), ("period_week", week)],
            channels=figures.CHANNELS,
            days=days,
            day_labels=[local_date(d) for d in days],
            months=months,
            bill=bill,
            charts=charts,
        )

    @router.get("/racun-sms.csv")
    async def sms_bill_csv(request: Request) -> Response:
        def figures_csv() -> str:
            console.signed(request, Role.VIEWER)
            since = figures.start_of_month(console.clock(), figures.MONTHS - 1)
            with console.engine.connect() as conn:
                return figures.bill_csv(figures.sms_bill(conn, since))

        body = await run_in_threadpool(figures_csv)
        return Response(
            body,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="obvo-sms-parts.csv"'},
        )

    return router
