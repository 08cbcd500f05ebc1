from aduan_router.main import main

main()
