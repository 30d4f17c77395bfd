"""Webhook deliveries: one send per job, and the sweep that sends again what is due."""
from __future__ import annotations

from app import webhooks
from jobs.app_context import platform_job, tenant_job


@tenant_job
def deliver_webhook(tenant_id: int, delivery_id: int) -> str:
    return webhooks.deliver(delivery_id)


@platform_job
def sweep_webhooks() -> int:
    return webhooks.sweep()
