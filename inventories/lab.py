"""The lab's hosts, read from the lab's state file.

    groundwork lab up
    pyinfra inventories/lab.py deploys/full.py

Every lab host is in the `lab` group (group_data/lab.py) and in the groups it
was started with (`groundwork lab up db1:db,cache app1:app`).
"""

from groundwork.lab.inventory import lab_groups

globals().update(lab_groups())
