"""The ``nncheck`` command line (click + rich); the contract is DESIGN.md section 4.

Every command exits 0 on success, 1 when a check fails and 2 on bad usage or bad
input, which is reported as one ``Error: ...`` line on stderr, never a traceback.
"""

import sys

import click

from .parsing import UsageError

LAYER_ARGS = {"ignore_unknown_options": True, "allow_extra_args": False,
              "help_option_names": ["-h", "--help"]}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="nncheck", prog_name="nncheck")
def cli():
    """Inspect neural-network layers: output shapes and why, forward passes, gradient checks.

    \b
    Examples:
      nncheck shape Conv2d 16 33 3 stride=2 --in 20,16,50,100 --explain
      nncheck forward Linear 20 30 --in 128,20
      nncheck gradcheck LSTM 3 4 --in 5,2,3
      nncheck summary "Conv2d(1,20,5) ReLU() MaxPool2d(2) Flatten() Linear(2880,10)" --in 1,1,28,28
    """


def main(argv=None):
    """Console entry point: run the CLI and map every failure to the exit-code contract."""
    from .._torch_compat import TorchNameMissing
    from . import commands  # noqa: F401  (registers the commands on `cli`)

    try:
        code = cli.main(args=argv, prog_name="nncheck", standalone_mode=False)
    except (UsageError, TorchNameMissing) as exc:  # the latter: a user's torch file
        _fail(str(exc))
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.ClickException as exc:
        _fail(exc.format_message())
    except click.Abort as exc:  # click turns Ctrl-C into Abort
        _fail(*(("interrupted", 130) if isinstance(exc.__cause__, KeyboardInterrupt)
                else ("aborted",)))
    except KeyboardInterrupt:  # Ctrl-C: the shell's convention, 128 + SIGINT
        _fail("interrupted", 130)
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message, code=2):
    first = " ".join(str(message).split("\n")[0].split()) or "failed"
    click.echo(f"Error: {first}", err=True)
    sys.exit(code)
