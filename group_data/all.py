# Settings shared by every host of every inventory. Keys are component-prefixed
# (base_*, later postgres_*, redis_*, ...); an unknown key under a component's
# prefix stops the run before any host is touched. See README "Settings".
