"""groundwork: bare Debian/Ubuntu hosts to a production stack for a Python web app, with pyinfra."""

from .redaction import install as _install_redaction

# Before any log record can carry host data: pyinfra's --debug prints group data.
_install_redaction()
