"""iPXE scripts, artifact serving, EC2-style metadata, DHCP configuration export, discovery."""
