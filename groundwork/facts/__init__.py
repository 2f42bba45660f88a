"""groundwork's own pyinfra facts: they read state, operations change it."""
