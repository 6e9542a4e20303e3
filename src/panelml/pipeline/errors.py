"""Error types every layer of panelml shares.

:class:`UserError` is the root of every error that is the user's to fix (a bad
config, bad data, an unknown name). The CLI prints its message alone and exits
with code 2; any other exception is a bug and is shown with its traceback
(exit code 1). Other packages subclass it (for example ``panelml.data``'s
``DataError``) so the CLI needs to know only this one class.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix; its message says what, where and how."""


class ConfigError(UserError):
    """The experiment config (file, ``--set`` override or stage params) is invalid."""


class PipelineOrderError(UserError):
    """A stage requires a result that no earlier stage provides."""


class ContractError(Exception):
    """A stage's result breaks a contract its ``result_type`` declares it provides.

    Not a :class:`UserError`: the stage is at fault, so it is shown with a traceback.
    """


class HookValidationError(UserError):
    """A hook plugin was rejected at registration (unknown hook name, bad signature)."""


class HookError(Exception):
    """A hook raised while ``strict_hooks`` is on; chained to the hook's own exception.

    Not a :class:`UserError`: a failing hook is a bug in the hook.
    """
