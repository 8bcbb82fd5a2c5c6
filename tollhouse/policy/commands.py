"""``tollhouse policy check`` and ``tollhouse policy trace``.

The modules these commands run are imported when a command runs, so that
the rest of the command line starts without the policy engine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import GatewayConfig, embedded_default, load_config
from ..errors import ConfigError

if TYPE_CHECKING:
    from .loader import PolicyLoader
    from .xml import NamedValues

_NAMED_VALUES_HELP = """\
Named values: with --config or --named-value, every {{name}} must be defined;
it is substituted before the value is checked, and a secret's value is never
printed (its {{name}} is shown instead).  Without either option, {{name}}
references are left as written and the values holding them are not checked.

Each error is printed on a line of its own as FILE:LINE:COLUMN: message.  The
exit status is 0 when every file is valid, 1 otherwise.
"""


def add_policy(commands: Any) -> None:
    """The ``policy`` command and its ``check`` and ``trace`` actions."""
    policy = commands.add_parser("policy", help="Work with APIM policy documents.")
    actions = policy.add_subparsers(dest="action", required=True, metavar="ACTION")

    check = actions.add_parser(
        "check",
        help="Check policy documents and fragments.",
        description="Check APIM policy documents (<policies>) and policy\n"
        "fragments (<fragment>) the way the gateway loads them; report every error.",
        epilog=_NAMED_VALUES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("files", nargs="+", metavar="FILE", help="Files to check.")
    check.add_argument(
        "--config",
        metavar="FILE",
        help="Gateway configuration whose named values, backends and policy "
        "fragments directory are used.",
    )
    check.add_argument(
        "--named-value",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="A named value (repeatable; overrides the configuration's).",
    )
    check.add_argument(
        "--fragments",
        metavar="DIR",
        help="Directory of policy fragments, NAME.xml for fragment-id NAME "
        "(overrides the configuration's).",
    )
    check.set_defaults(run=_policy_check)
    _add_policy_trace(actions)


def _policy_check(args: argparse.Namespace) -> int:
    loader = _policy_loader(args)
    failed = 0
    for name in args.files:
        errors: Sequence[ConfigError]
        try:
            errors = loader.check(name)
        except ConfigError as exc:  # the file cannot be read
            errors = [exc]
        for error in errors:
            print(error)
        if errors:
            failed += 1
        else:
            print(f"{name}: ok")
    if failed:
        print(
            f"tollhouse: {failed} of {len(args.files)} policy files have errors",
            file=sys.stderr,
        )
    return 1 if failed else 0


def _policy_loader(args: argparse.Namespace) -> PolicyLoader:
    from .loader import PolicyLoader, fragments_in, named_values_from_config

    named: NamedValues | None = None
    backends: set[str] | None = None
    fragments: Mapping[str, Path] = {}
    if args.config:
        config = load_config(args.config)
        named = named_values_from_config(config, os.environ)
        backends = set(config.backends)
        if config.policy_fragments_dir:
            here = Path(args.config).parent
            fragments = fragments_in(here / config.policy_fragments_dir)
    if args.named_value:
        named = _add_named_values(named, args.named_value)
    if args.fragments:
        if not Path(args.fragments).is_dir():
            raise ConfigError(
                f"{args.fragments!r} is not a directory",
                source="command line",
                path="--fragments",
            )
        fragments = fragments_in(args.fragments)
    return PolicyLoader(named_values=named, fragments=fragments, backends=backends)


def _add_named_values(named: NamedValues | None, items: list[str]) -> NamedValues:
    from .xml import NamedValues

    base = named or NamedValues()
    values = dict(base.values)
    for item in items:
        name, equals, value = item.partition("=")
        if not equals or not name:
            raise ConfigError(
                f"expected NAME=VALUE, got {item!r}",
                source="command line",
                path="--named-value",
            )
        values[name] = value
    return NamedValues(values, base.secrets)


_TRACE_HELP = """\
The backend is not called unless --call-backend is given: forward-request
answers with --backend-status and --backend-body (by default 200 and a small
chat completion).  Nothing is written to the log.  Only the policies run:
the gateway's own checks (subscription key, deployment, request body) do
not, and context.Subscription is null unless --subscription names one.

Each line of the trace is a policy that ran: its section, the scope of the
document it is in and its path there (scope:path, such as
api:inbound/ip-filter[1]), and its outcome (next, return, taken for a choose
branch, failed: REASON).  The exit status is 0 whatever the response; it
is 2 when the trace cannot run (a bad option or configuration).
"""


def _add_policy_trace(actions: Any) -> None:
    trace = actions.add_parser(
        "trace",
        help="Run a sample request through an operation's policies.",
        description="Run a sample request through the effective policy of the "
        "operation its URL matches, and print each step and the response.",
        epilog=_TRACE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    trace.add_argument(
        "url",
        metavar="URL",
        help="Gateway URL or path, such as /openai/deployments/gpt-4o-deployment/"
        "chat/completions?api-version=2024-10-21.",
    )
    trace.add_argument("--config", metavar="FILE", help="Gateway configuration.")
    trace.add_argument("--method", default="POST", help="HTTP method (POST).")
    trace.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="A request header (repeatable).",
    )
    body = trace.add_mutually_exclusive_group()
    body.add_argument("--body", help="Request body text.")
    body.add_argument("--body-file", metavar="FILE", help="Request body from a file.")
    trace.add_argument(
        "--caller-ip", default="127.0.0.1", help="The caller's address (127.0.0.1)."
    )
    trace.add_argument("--subscription", metavar="ID", help="Calling subscription.")
    trace.add_argument("--product", metavar="ID", help="Its product, if any.")
    trace.add_argument(
        "--call-backend", action="store_true", help="Really call the backend."
    )
    trace.add_argument(
        "--backend-status", type=int, default=200, help="Sample backend status."
    )
    trace.add_argument("--backend-body", help="Sample backend body (JSON text).")
    trace.set_defaults(run=_policy_trace)


def _policy_trace(args: argparse.Namespace) -> int:
    from .tracing import SAMPLE_BODY, SampleBackend, SampleRequest, trace

    config = load_config(args.config) if args.config else embedded_default()
    sample = SampleRequest(
        method=args.method.upper(),
        url=_absolute(args.url, config),
        headers=[_header(text) for text in args.header],
        body=_trace_body(args),
        caller_ip=args.caller_ip,
        subscription=args.subscription,
        product=args.product,
    )
    backend = SampleBackend(
        call=args.call_backend,
        status=args.backend_status,
        body=args.backend_body.encode() if args.backend_body else SAMPLE_BODY,
    )
    result = asyncio.run(trace(config, sample, backend, os.environ))
    _print_trace(result)
    return 0


def _absolute(url: str, config: GatewayConfig) -> str:
    if "://" in url:
        return url
    listener = config.listener
    return f"http://{listener.host}:{listener.port}/{url.lstrip('/')}"


def _header(text: str) -> tuple[str, str]:
    name, colon, value = text.partition(":")
    if not colon or not name.strip():
        raise ConfigError(
            f"expected 'NAME: VALUE', got {text!r}",
            source="command line",
            path="--header",
        )
    return name.strip(), value.strip()


def _trace_body(args: argparse.Namespace) -> bytes:
    if args.body_file:
        return Path(args.body_file).read_bytes()
    return args.body.encode() if args.body is not None else b""


def _print_trace(result: Any) -> None:
    print(f"API {result.api or '-'}, operation {result.operation or '-'}")
    for step in result.steps:
        place = f"{step.scope}:{step.policy_id}"
        print(f"  {step.section:<9} {place:<56} {step.outcome}")
    for line in result.forwarded:
        print(f"forwarded: {line}")
    if result.error is not None:
        print(f"error: {result.error}")
    print(f"response: {result.status} {result.reason}".rstrip())
    for name, value in result.headers:
        print(f"{name}: {value}")
    if result.body:
        print()
        print(result.body.decode("utf-8", "replace"))
