"""An example self-registration page: the Python counterpart of OAM's JSP sample (section 42.1.2)."""
