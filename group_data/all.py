# Settings shared by every host of every inventory. Keys are component-prefixed
# (base_*, later postgres_*, redis_*, ...); an unknown key under a component's
# prefix stops the run before any host is touched. See README "Settings".

# Masks secrets in every log record of the run, pyinfra's --debug included
# (groundwork.redaction); pyinfra does not take imported names as group data.
import groundwork  # noqa: E402,F401
