"""groundwork's own pyinfra operations."""
