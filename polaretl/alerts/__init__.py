"""Alerts: rules evaluated when a run finishes, sent through channels, recorded in
``polaretl.alerts``.

```python
pe.Pipeline(..., alerts=[
    pe.FailureRate(above=0.05, channels=[pe.Slack(url)]),   # this rule's own channels
    pe.VolumeDrop(below=0.5), pe.Duration(factor=3.0), pe.SchemaChange(), pe.RunFailed(),
    pe.Email(["ops@example.com"], smtp_url="smtps://bot:pw@mail.example"),  # the default
])
```

`rules` has the rules; `channels` and `smtp` the channels, `settings` those configured
by environment variables; `evaluate` what happens after a run.
"""

from polaretl.alerts.channels import (
    Alert,
    Apprise,
    Channel,
    Log,
    Slack,
    Webhook,
    deliver,
)
from polaretl.alerts.evaluate import Fired, channels_for, evaluate_run, split_alerts
from polaretl.alerts.rules import (
    Duration,
    FailureRate,
    Rule,
    RunFacts,
    RunFailed,
    SchemaChange,
    VolumeDrop,
)
from polaretl.alerts.settings import from_env
from polaretl.alerts.smtp import Email
from polaretl.errors import ChannelError

__all__ = [
    "Alert",
    "Apprise",
    "Channel",
    "ChannelError",
    "Duration",
    "Email",
    "FailureRate",
    "Fired",
    "Log",
    "Rule",
    "RunFacts",
    "RunFailed",
    "SchemaChange",
    "Slack",
    "VolumeDrop",
    "Webhook",
    "channels_for",
    "deliver",
    "evaluate_run",
    "from_env",
    "split_alerts",
]
