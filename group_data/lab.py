# Settings for the lab's throwaway hosts (`groundwork lab up`). No real secrets.
base_timezone = "UTC"
