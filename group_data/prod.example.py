# Settings for every host in the `prod` group. Copy to group_data/prod.py
# (git-ignored). Secrets belong here or in your own secret store, never in git.
# The full list of keys, with defaults: README.md, "Settings".

base_timezone = "Europe/Berlin"
base_locale = "en_US.UTF-8"
base_extra_packages = ["htop"]
