from aduan_sla_monitor.main import main

main()
