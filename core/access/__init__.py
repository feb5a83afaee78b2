"""Who may use a shared Tuneboard: the password check, the guess throttle, and the gate in front of uploads."""
