"""Testing helpers: the pytest bridge from pyinfra inventories to testinfra hosts."""
