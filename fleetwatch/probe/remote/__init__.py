"""Code that runs on the monitored host.  Read as text and sent over SSH; never imported locally."""
