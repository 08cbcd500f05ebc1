from aduan_notifier.main import main

main()
