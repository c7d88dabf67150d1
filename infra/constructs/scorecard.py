"""The contact center's balanced scorecard: one CloudWatch dashboard over Powertools metrics.

With tenants listed, each listed tenant has its own dashboard (``callguard-scorecard-<tenant>``) over
the metrics its requests emit with the ``tenant`` dimension (the API edge adds it for a listed
tenant, the analysis for a listed tenant's call); the default tenant's metrics keep v1's dimensions
and v1's dashboard.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from constructs import Construct

from callguard.names import METRICS_NAMESPACE, SERVICE_NAME, TENANT_DIMENSION

__all__ = ["Scorecard"]


def _tenant_metric(
    function: str, name: str, statistic: str = "Sum", label: str | None = None, tenant: str | None = None
) -> cw.Metric:
    dimensions = {"service": f"{SERVICE_NAME}-{function}"}
    if tenant is not None:
        dimensions[TENANT_DIMENSION] = tenant
    return cw.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map=dimensions,
        statistic=statistic,
        period=Duration.hours(1),
        label=label or name,
    )


class Scorecard(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, tenant: str | None = None) -> None:
        """v1's scorecard (the default tenant's metrics) or, with ``tenant``, a listed tenant's."""
        super().__init__(scope, construct_id)

        def _metric(function: str, name: str, statistic: str = "Sum", label: str | None = None) -> cw.Metric:
            return _tenant_metric(function, name, statistic, label, tenant)

        decisions = _metric("route", "RoutingDecisions")
        ai_share = cw.MathExpression(
            expression="IF(d > 0, 100 * ai / d, 0)",
            using_metrics={"ai": _metric("route", "HandledByAI"), "d": decisions},
            label="share handled by AI (%)",
            period=Duration.hours(1),
        )
        name = "callguard-scorecard" if tenant is None else f"callguard-scorecard-{tenant}"
        self.dashboard = cw.Dashboard(self, "Dashboard", dashboard_name=name)
        self.dashboard.add_widgets(
            cw.GraphWidget(title="Customer: share handled by AI (%)", left=[ai_share], width=8),
            cw.GraphWidget(
                title="Customer: escalations",
                left=[_metric("route", "Escalations"), _metric("ingest", "LiveEscalations")],
                width=8,
            ),
            cw.GraphWidget(
                title="Customer: repeat callers within the window", left=[_metric("route", "RepeatCallers")], width=8
            ),
        )
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title="Quality: customer sentiment change, first to last quarter (-2 … +2)",
                left=[_metric("analyze", "SentimentShift", "Average", "average shift")],
                width=8,
            ),
            cw.GraphWidget(title="Process: follow-ups opened", left=[_metric("analyze", "FollowupsOpened")], width=8),
            cw.GraphWidget(
                title="Process: calls accepted and analysed",
                left=[_metric("ingest", "CallsAccepted"), _metric("analyze", "AnalysisDone")],
                right=[_metric("analyze", "ComprehendUnits", label="Comprehend units")],
                width=8,
            ),
        )
