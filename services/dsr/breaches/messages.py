"""Every text of the breach register, in Korean, English and Vietnamese: the notice to the people
affected, the report to the regulator, and the words of the breach pages (one dict; a test checks
that each key has all three languages and the same ``{placeholders}``).

The names of the data categories are the rules' own (``shared/rules/breaches.py``), like the
purposes' names in ``purposes.yaml``. Nothing here names a person: the drafts are made of the
breach's codes, counts and times, and the clinic's contacts from the settings.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from shared.rules.breaches import DATA_CATEGORIES

LANGUAGES = ("ko", "en", "vi")

M: dict[str, dict[str, str]] = {
    # --- the notice to the people affected (PIPA Art. 34(1)) -------------------------------------
    "notice.title": {"ko": "개인정보 유출 사실을 알려드립니다", "en": "Notice of a leak of your personal information",
                     "vi": "Thông báo về sự cố rò rỉ thông tin cá nhân"},
    "notice.intro": {
        "ko": "{controller}에서 보유하고 있던 귀하의 개인정보가 유출되었음을 알려드리며, 심려를 끼쳐 드린 점 깊이 "
              "사과드립니다. 「개인정보 보호법」 제34조에 따라 유출 내용과 경위, 피해를 줄이기 위하여 하실 수 있는 일, "
              "저희의 조치를 아래와 같이 안내해 드립니다.",
        "en": "We are writing to tell you that personal information about you held by {controller} has been leaked. "
              "We are deeply sorry. As Korea's Personal Information Protection Act (Art. 34) requires, this notice "
              "tells you what was leaked and how, what you can do to reduce any harm, and what we are doing.",
        "vi": "{controller} xin thông báo rằng thông tin cá nhân của Quý khách do chúng tôi lưu giữ đã bị rò rỉ. "
              "Chúng tôi thành thật xin lỗi Quý khách. Theo Điều 34 Luật Bảo vệ thông tin cá nhân của Hàn Quốc, "
              "chúng tôi xin thông báo những thông tin đã bị rò rỉ và cách thức xảy ra, những việc Quý khách có thể "
              "làm để giảm thiệt hại, và các biện pháp chúng tôi đang thực hiện.",
    },
    "h.items": {"ko": "1. 유출된 개인정보 항목", "en": "1. What was leaked", "vi": "1. Những thông tin bị rò rỉ"},
    "h.when": {"ko": "2. 유출된 시점과 그 경위", "en": "2. When and how it happened",
               "vi": "2. Thời điểm và cách thức xảy ra"},
    "h.can_do": {"ko": "3. 피해를 최소화하기 위하여 하실 수 있는 일", "en": "3. What you can do to reduce any harm",
                 "vi": "3. Những việc Quý khách có thể làm để giảm thiệt hại"},
    "h.we_do": {"ko": "4. 저희의 대응 조치와 피해 구제 절차", "en": "4. What we are doing, and how to seek redress",
                "vi": "4. Các biện pháp chúng tôi đang thực hiện và thủ tục khắc phục thiệt hại"},
    "h.contact": {"ko": "5. 피해 신고 및 문의처", "en": "5. Where to report harm or ask questions",
                  "vi": "5. Nơi báo cáo thiệt hại và giải đáp thắc mắc"},
    "when.known": {
        "ko": "유출은 {occurred}에 발생하였으며, 저희는 {discovered}에 이를 알게 되었습니다.",
        "en": "The leak happened on {occurred}, and we learned of it on {discovered}.",
        "vi": "Sự cố xảy ra vào {occurred} và chúng tôi phát hiện vào {discovered}.",
    },
    "when.unknown": {
        "ko": "저희는 {discovered}에 유출 사실을 알게 되었으며, 유출이 시작된 시점은 조사하고 있습니다.",
        "en": "We learned of the leak on {discovered}; when it began is still being investigated.",
        "vi": "Chúng tôi phát hiện sự cố vào {discovered}; thời điểm sự cố bắt đầu vẫn đang được điều tra.",
    },
    "how.external_access": {"ko": "외부에서 저희 시스템에 불법적으로 접근(해킹)하여 유출되었습니다.",
                            "en": "It was caused by unlawful access to our systems from outside (hacking).",
                            "vi": "Nguyên nhân là do có sự truy cập trái phép từ bên ngoài vào hệ thống của chúng tôi "
                                  "(tấn công mạng)."},
    "how.insider": {"ko": "내부 직원이 개인정보를 부적절하게 취급하여 유출되었습니다.",
                    "en": "It was caused by someone inside the clinic handling personal information improperly.",
                    "vi": "Nguyên nhân là do nhân viên nội bộ xử lý thông tin cá nhân không đúng quy định."},
    "how.misdelivery": {"ko": "개인정보가 담긴 문서나 메일이 다른 사람에게 잘못 전달되었습니다.",
                        "en": "A document or message containing personal information was sent to the wrong person.",
                        "vi": "Tài liệu hoặc thư có chứa thông tin cá nhân đã bị gửi nhầm cho người khác."},
    "how.lost_or_stolen": {"ko": "개인정보가 담긴 기기나 서류를 분실하였거나 도난당했습니다.",
                           "en": "A device or papers containing personal information were lost or stolen.",
                           "vi": "Thiết bị hoặc hồ sơ có chứa thông tin cá nhân đã bị thất lạc hoặc bị đánh cắp."},
    "how.system_error": {"ko": "시스템 설정 오류로 개인정보가 외부에서 열람될 수 있는 상태였습니다.",
                         "en": "Because of a fault in how a system was set up, the information could be seen from "
                               "outside.",
                         "vi": "Do lỗi cài đặt hệ thống, thông tin cá nhân đã có thể bị xem từ bên ngoài."},
    "how.processor": {"ko": "저희가 개인정보 처리를 위탁한 업체에서 유출되었습니다.",
                      "en": "It happened at a company that handles personal information on our behalf.",
                      "vi": "Sự cố xảy ra tại đơn vị được chúng tôi ủy thác xử lý thông tin cá nhân."},
    "how.other": {"ko": "구체적인 경위는 조사하고 있으며, 확인되는 대로 추가로 알려드리겠습니다.",
                  "en": "We are still establishing exactly how it happened, and will tell you as soon as we know.",
                  "vi": "Chúng tôi đang xác định nguyên nhân cụ thể và sẽ thông báo thêm ngay khi có kết quả."},
    "how.unknown": {"ko": "유출 경위는 조사하고 있으며, 확인되는 대로 추가로 알려드리겠습니다.",
                    "en": "How it happened is still being investigated; we will tell you as soon as we know.",
                    "vi": "Nguyên nhân vẫn đang được điều tra; chúng tôi sẽ thông báo thêm ngay khi xác định được."},
    "can.always": {
        "ko": "병원을 사칭하여 개인정보나 금융정보를 묻는 전화·문자·이메일에 주의하시고, 문자나 메일 속 링크를 누르지 "
              "마십시오.",
        "en": "Be wary of calls, text messages and emails that claim to come from the clinic and ask for personal "
              "or payment details, and do not open links in them.",
        "vi": "Hãy cảnh giác với các cuộc gọi, tin nhắn và email mạo danh phòng khám để hỏi thông tin cá nhân hoặc "
              "thông tin thanh toán, và không bấm vào đường link trong đó.",
    },
    "can.credential": {
        "ko": "홈페이지 비밀번호를 바로 변경하시고, 같은 비밀번호를 쓰는 다른 사이트의 비밀번호도 변경해 주십시오.",
        "en": "Change your password on the clinic's website now, and anywhere else you use the same password.",
        "vi": "Hãy đổi ngay mật khẩu trên trang web của phòng khám, và đổi cả mật khẩu ở những nơi khác nếu "
              "Quý khách dùng cùng một mật khẩu.",
    },
    "can.unique": {
        "ko": "명의도용 방지 서비스(엠세이퍼, www.msafer.or.kr)를 이용하시면 본인도 모르게 휴대전화가 개통되는 것을 "
              "막을 수 있습니다.",
        "en": "The M-Safer identity theft protection service (www.msafer.or.kr) can stop mobile phone lines being "
              "opened in your name without your knowledge.",
        "vi": "Dịch vụ chống mạo danh M-Safer (www.msafer.or.kr) có thể ngăn việc mở thuê bao điện thoại di động "
              "dưới tên Quý khách mà Quý khách không biết.",
    },
    "can.financial": {
        "ko": "카드사나 은행에 연락하여 결제·이체 내역을 확인하시고, 필요하면 카드 재발급이나 거래 정지를 요청하십시오.",
        "en": "Contact your card company or bank to check your transactions, and ask them to block or replace "
              "your card if needed.",
        "vi": "Hãy liên hệ công ty thẻ hoặc ngân hàng để kiểm tra các giao dịch, và yêu cầu khóa hoặc cấp lại thẻ "
              "nếu cần.",
    },
    "can.sensitive": {
        "ko": "진료 내용을 언급하며 연락해 오는 사람이 있으면 응하지 마시고 저희에게 알려 주십시오.",
        "en": "If anyone contacts you mentioning your treatment, do not respond; please tell us.",
        "vi": "Nếu có người liên hệ và nhắc đến việc điều trị của Quý khách, xin đừng trả lời mà hãy báo cho "
              "chúng tôi.",
    },
    "measure.access_blocked": {"ko": "유출 경로를 차단하였습니다.", "en": "We have closed the way the information "
                               "was leaking.", "vi": "Chúng tôi đã chặn con đường gây rò rỉ."},
    "measure.vulnerability_fixed": {"ko": "취약점을 점검하고 보완하였습니다.",
                                    "en": "We have checked our systems for weaknesses and fixed them.",
                                    "vi": "Chúng tôi đã kiểm tra và khắc phục các lỗ hổng bảo mật."},
    "measure.credentials_reset": {"ko": "관련 계정의 비밀번호를 초기화하였습니다.",
                                  "en": "We have reset the passwords of the accounts concerned.",
                                  "vi": "Chúng tôi đã đặt lại mật khẩu của các tài khoản liên quan."},
    "measure.data_removed": {"ko": "유출된 개인정보를 회수하거나 삭제하였습니다.",
                             "en": "We have had the leaked information returned or deleted.",
                             "vi": "Chúng tôi đã thu hồi hoặc xóa những thông tin bị rò rỉ."},
    "measure.investigating": {"ko": "유출 경위와 범위를 조사하고 있습니다.",
                              "en": "We are investigating how the leak happened and how far it goes.",
                              "vi": "Chúng tôi đang điều tra nguyên nhân và phạm vi của sự cố."},
    "measure.authorities_informed": {"ko": "수사기관에 신고하였습니다.", "en": "We have reported it to the police.",
                                     "vi": "Chúng tôi đã báo cáo sự việc cho cơ quan điều tra."},
    "measure.processor_instructed": {"ko": "위탁 업체에 개인정보 보호 조치를 요구하였습니다.",
                                     "en": "We have required the company concerned to protect the information.",
                                     "vi": "Chúng tôi đã yêu cầu đơn vị được ủy thác áp dụng các biện pháp bảo vệ "
                                           "thông tin cá nhân."},
    "measure.monitoring": {"ko": "추가 유출이 없는지 감시하고 있습니다.",
                           "en": "We are watching for any further leak.",
                           "vi": "Chúng tôi đang theo dõi để kịp thời phát hiện nếu có rò rỉ thêm."},
    "measure.staff_trained": {"ko": "재발을 막기 위하여 직원 교육을 강화하였습니다.",
                              "en": "We have strengthened staff training so that it does not happen again.",
                              "vi": "Chúng tôi đã tăng cường đào tạo nhân viên để sự cố không lặp lại."},
    "measure.none": {"ko": "유출 경위와 범위를 조사하고 있으며, 추가 유출을 막기 위한 조치를 하고 있습니다.",
                     "en": "We are investigating the leak and taking steps to stop any further leak.",
                     "vi": "Chúng tôi đang điều tra sự cố và thực hiện các biện pháp để ngăn chặn rò rỉ thêm."},
    "relief": {
        "ko": "피해가 발생하였거나 피해가 우려되시면 아래 창구로 알려 주십시오. 확인한 뒤 피해 구제 절차를 안내해 "
              "드리겠습니다.",
        "en": "If you have suffered harm, or fear you may, please tell us through the contacts below: we will look "
              "into it and explain how you can obtain redress.",
        "vi": "Nếu Quý khách bị thiệt hại hoặc lo ngại có thể bị thiệt hại, xin hãy báo cho chúng tôi qua đầu mối "
              "dưới đây; chúng tôi sẽ xem xét và hướng dẫn thủ tục khắc phục, bồi thường.",
    },
    "contact.desk": {"ko": "피해 신고·상담 창구: {desk}", "en": "To report harm or ask: {desk}",
                     "vi": "Đầu mối tiếp nhận báo cáo và giải đáp: {desk}"},
    "contact.manager": {"ko": "개인정보 보호책임자: {manager}", "en": "Privacy manager: {manager}",
                        "vi": "Người phụ trách bảo vệ thông tin cá nhân: {manager}"},
    "external.intro": {"ko": "개인정보 침해에 대한 신고나 상담은 아래 기관에도 하실 수 있습니다.",
                       "en": "You can also report a privacy violation to, or seek advice from:",
                       "vi": "Quý khách cũng có thể báo cáo hoặc được tư vấn về việc xâm phạm thông tin cá nhân tại:"},
    "notice.closing": {"ko": "다시 한번 깊이 사과드립니다.\n{controller} 드림",
                       "en": "We apologise again for this.\n{controller}",
                       "vi": "Một lần nữa, chúng tôi thành thật xin lỗi Quý khách.\n{controller}"},
    # --- the report to the regulator (Decree Art. 40) ---------------------------------------------
    "report.title": {"ko": "개인정보 유출 신고서(초안)", "en": "Report of a personal information leak (draft)",
                     "vi": "Báo cáo sự cố rò rỉ thông tin cá nhân (bản nháp)"},
    "r.controller": {"ko": "개인정보처리자", "en": "Controller", "vi": "Đơn vị xử lý thông tin cá nhân"},
    "r.contact": {"ko": "담당자 및 연락처", "en": "Person responsible and contact",
                  "vi": "Người phụ trách và thông tin liên hệ"},
    "r.items": {"ko": "유출된 개인정보 항목", "en": "Information leaked", "vi": "Thông tin bị rò rỉ"},
    "r.people": {"ko": "유출된 정보주체의 수", "en": "Number of people affected", "vi": "Số người bị ảnh hưởng"},
    "r.occurred": {"ko": "유출 발생 일시", "en": "When it happened", "vi": "Thời điểm xảy ra"},
    "r.discovered": {"ko": "유출 인지 일시", "en": "When the clinic learned of it", "vi": "Thời điểm phát hiện"},
    "r.how": {"ko": "유출 경위", "en": "How it happened", "vi": "Diễn biến sự cố"},
    "r.cause": {"ko": "유출 원인", "en": "Cause", "vi": "Nguyên nhân"},
    "r.measures": {"ko": "유출 후 조치 및 대응 계획", "en": "Measures taken and planned",
                   "vi": "Các biện pháp đã và sẽ thực hiện"},
    "r.remedies": {"ko": "정보주체의 피해 최소화 방법 및 구제 절차",
                   "en": "What the people affected can do, and how they can seek redress",
                   "vi": "Những việc người bị ảnh hưởng có thể làm và thủ tục khắc phục"},
    "r.people_told": {"ko": "정보주체 통지 여부", "en": "People told", "vi": "Đã thông báo cho người bị ảnh hưởng"},
    "r.required": {"ko": "신고 의무", "en": "Duty to report", "vi": "Nghĩa vụ báo cáo"},
    "r.notify_by": {"ko": "통지·신고 기한", "en": "Deadline to tell the people and the regulator",
                    "vi": "Hạn thông báo và báo cáo"},
    "people.count": {"ko": "{n}명", "en": "{n} people", "vi": "{n} người"},
    "people.one": {"ko": "{n}명", "en": "{n} person", "vi": "{n} người"},
    "people.unknown": {"ko": "확인 중", "en": "still being established", "vi": "đang xác định"},
    "time.unknown": {"ko": "확인 중", "en": "not known yet", "vi": "chưa xác định"},
    "told.none": {"ko": "아직 통지하지 않음", "en": "not yet", "vi": "chưa thông báo"},
    "told.entry": {"ko": "{at}, {people}, {channels}", "en": "{at}: {people} by {channels}",
                   "vi": "{at}: {people} qua {channels}"},
    "required.yes": {"ko": "신고 대상입니다({reasons}). 인지한 때부터 72시간 안에 개인정보보호위원회 또는 "
                           "한국인터넷진흥원에 신고해야 합니다.",
                     "en": "The regulator must be told ({reasons}): the Personal Information Protection Commission "
                           "or KISA, within 72 hours of learning of the leak.",
                     "vi": "Phải báo cáo cho cơ quan quản lý ({reasons}): Ủy ban Bảo vệ thông tin cá nhân hoặc "
                           "KISA, trong vòng 72 giờ kể từ khi phát hiện."},
    "required.no": {"ko": "지금까지 확인된 사실로는 신고 대상이 아닙니다(1천 명 미만, 민감정보·고유식별정보 없음, "
                          "외부의 불법 접근 아님). 새로운 사실이 확인되면 다시 판단합니다.",
                    "en": "On what is known now the regulator need not be told (fewer than 1,000 people, no sensitive "
                          "or unique identifying information, no unlawful access from outside). This is decided "
                          "again as more is known.",
                    "vi": "Theo những gì đã biết, chưa phải báo cáo cho cơ quan quản lý (dưới 1.000 người, không có "
                          "thông tin nhạy cảm hay thông tin định danh, không do truy cập trái phép từ bên ngoài). "
                          "Việc này sẽ được xem xét lại khi có thêm thông tin."},
    "required.count_unknown": {"ko": "유출된 정보주체의 수가 아직 확인되지 않았습니다. 1천 명 이상이면 신고해야 합니다.",
                               "en": "The number of people affected is not known yet: at 1,000 or more, the "
                                     "regulator must be told.",
                               "vi": "Chưa xác định được số người bị ảnh hưởng: nếu từ 1.000 người trở lên thì phải "
                                     "báo cáo cho cơ quan quản lý."},
    "reason.people": {"ko": "정보주체 1천 명 이상", "en": "1,000 or more people",
                      "vi": "từ 1.000 người trở lên"},
    "reason.sensitive": {"ko": "민감정보 유출", "en": "sensitive information", "vi": "thông tin nhạy cảm"},
    "reason.unique_identifiers": {"ko": "고유식별정보 유출", "en": "unique identifying information",
                                  "vi": "thông tin định danh cá nhân"},
    "reason.external_access": {"ko": "외부로부터의 불법 접근", "en": "unlawful access from outside",
                               "vi": "truy cập trái phép từ bên ngoài"},
    "regulator.PIPC": {"ko": "개인정보보호위원회", "en": "Personal Information Protection Commission (PIPC)",
                       "vi": "Ủy ban Bảo vệ thông tin cá nhân (PIPC)"},
    "regulator.KISA": {"ko": "한국인터넷진흥원(KISA)", "en": "Korea Internet & Security Agency (KISA)",
                       "vi": "Cơ quan Internet và An ninh mạng Hàn Quốc (KISA)"},
    # --- short names: causes, measures, channels, outcomes ----------------------------------------
    "cause.external_access": {"ko": "외부로부터의 불법 접근(해킹)", "en": "unlawful access from outside (hacking)",
                              "vi": "truy cập trái phép từ bên ngoài (tấn công mạng)"},
    "cause.insider": {"ko": "내부자의 부적절한 취급", "en": "improper handling by someone inside",
                      "vi": "nhân viên nội bộ xử lý sai quy định"},
    "cause.misdelivery": {"ko": "잘못된 전달(오발송)", "en": "sent to the wrong person", "vi": "gửi nhầm người nhận"},
    "cause.lost_or_stolen": {"ko": "기기·서류의 분실 또는 도난", "en": "lost or stolen device or papers",
                             "vi": "mất hoặc bị đánh cắp thiết bị, hồ sơ"},
    "cause.system_error": {"ko": "시스템 설정 오류", "en": "a system set up wrongly", "vi": "lỗi cài đặt hệ thống"},
    "cause.processor": {"ko": "수탁자(위탁 업체)에서 발생", "en": "at a processor", "vi": "tại đơn vị được ủy thác"},
    "cause.other": {"ko": "기타", "en": "other", "vi": "khác"},
    "cause.unknown": {"ko": "확인 중", "en": "not known yet", "vi": "chưa xác định"},
    "m.access_blocked": {"ko": "유출 경로 차단", "en": "leak closed", "vi": "đã chặn đường rò rỉ"},
    "m.vulnerability_fixed": {"ko": "취약점 보완", "en": "weaknesses fixed", "vi": "đã khắc phục lỗ hổng"},
    "m.credentials_reset": {"ko": "비밀번호 초기화", "en": "passwords reset", "vi": "đã đặt lại mật khẩu"},
    "m.data_removed": {"ko": "유출 정보 회수·삭제", "en": "leaked data returned or deleted",
                       "vi": "đã thu hồi hoặc xóa dữ liệu bị rò rỉ"},
    "m.investigating": {"ko": "경위 조사 중", "en": "investigating", "vi": "đang điều tra"},
    "m.authorities_informed": {"ko": "수사기관 신고", "en": "police told", "vi": "đã báo cơ quan điều tra"},
    "m.processor_instructed": {"ko": "수탁자에 조치 요구", "en": "processor instructed",
                               "vi": "đã yêu cầu đơn vị ủy thác"},
    "m.monitoring": {"ko": "추가 유출 감시", "en": "watching for more", "vi": "đang theo dõi"},
    "m.staff_trained": {"ko": "직원 교육 강화", "en": "staff retrained", "vi": "đã đào tạo lại nhân viên"},
    "channel.letter": {"ko": "우편(서면)", "en": "letter", "vi": "thư giấy"},
    "channel.email": {"ko": "이메일", "en": "email", "vi": "email"},
    "channel.sms": {"ko": "문자 메시지", "en": "text message", "vi": "tin nhắn SMS"},
    "channel.phone": {"ko": "전화", "en": "phone", "vi": "điện thoại"},
    "channel.fax": {"ko": "팩스", "en": "fax", "vi": "fax"},
    "channel.in_person": {"ko": "직접 전달", "en": "in person", "vi": "trực tiếp"},
    "channel.website": {"ko": "홈페이지 게시", "en": "notice on the website", "vi": "đăng trên trang web"},
    "outcome.handled": {"ko": "처리 완료", "en": "handled", "vi": "đã xử lý xong"},
    "outcome.not_a_breach": {"ko": "유출 아님", "en": "not a leak", "vi": "không phải sự cố rò rỉ"},
    # --- the breach pages of the dashboard --------------------------------------------------------
    "page.title": {"ko": "개인정보 유출 대응", "en": "Breach register", "vi": "Sổ theo dõi sự cố rò rỉ"},
    "page.intro": {"ko": "유출을 알게 된 때부터 72시간 안에 정보주체에게 알리고, 기준에 해당하면 개인정보보호위원회 "
                         "또는 KISA에 신고해야 합니다(「개인정보 보호법」 제34조).",
                   "en": "From the moment a leak is discovered, the people affected must be told within 72 hours, "
                         "and the regulator too above the thresholds (PIPA Art. 34).",
                   "vi": "Kể từ khi phát hiện sự cố, phải thông báo cho người bị ảnh hưởng trong vòng 72 giờ, và báo "
                         "cáo cho cơ quan quản lý nếu thuộc các trường hợp luật định (Điều 34 PIPA)."},
    "page.none": {"ko": "기록된 유출이 없습니다.", "en": "No breach recorded.", "vi": "Chưa ghi nhận sự cố nào."},
    "page.record": {"ko": "유출 의심 기록", "en": "Record a suspected breach", "vi": "Ghi nhận nghi ngờ rò rỉ"},
    "page.breach": {"ko": "유출", "en": "Breach", "vi": "Sự cố"},
    "f.description": {"ko": "무슨 일이 있었나요", "en": "What happened", "vi": "Chuyện gì đã xảy ra"},
    "f.occurred_at": {"ko": "유출 발생 일시(모르면 비워 두세요)", "en": "When it happened (leave empty if unknown)",
                      "vi": "Thời điểm xảy ra (để trống nếu chưa biết)"},
    "f.discovered_at": {"ko": "유출을 알게 된 일시(72시간의 시작)", "en": "When it was discovered (the 72 hours start)",
                        "vi": "Thời điểm phát hiện (bắt đầu tính 72 giờ)"},
    "f.subject_ids": {"ko": "영향받은 정보주체 ID(한 줄에 하나, 아는 만큼)",
                      "en": "Ids of the people affected (one a line, as far as known)",
                      "vi": "Mã của những người bị ảnh hưởng (mỗi dòng một mã, nếu biết)"},
    "f.subject_count": {"ko": "영향받은 사람 수(모르면 비워 두세요)", "en": "Number of people affected (empty if unknown)",
                        "vi": "Số người bị ảnh hưởng (để trống nếu chưa biết)"},
    "f.data_categories": {"ko": "유출된 항목", "en": "Information leaked", "vi": "Thông tin bị rò rỉ"},
    "f.sensitive": {"ko": "그 밖의 민감정보 포함", "en": "Other sensitive information included",
                    "vi": "Có thông tin nhạy cảm khác"},
    "f.unique_identifiers": {"ko": "그 밖의 고유식별정보 포함", "en": "Other unique identifying information included",
                             "vi": "Có thông tin định danh khác"},
    "f.cause": {"ko": "원인", "en": "Cause", "vi": "Nguyên nhân"},
    "f.cause_detail": {"ko": "원인 상세", "en": "More about the cause", "vi": "Chi tiết nguyên nhân"},
    "f.measures": {"ko": "조치", "en": "Measures", "vi": "Biện pháp"},
    "f.measures_detail": {"ko": "조치 상세", "en": "More about the measures", "vi": "Chi tiết biện pháp"},
    "f.notified_at": {"ko": "통지한 일시", "en": "When they were told", "vi": "Thời điểm thông báo"},
    "f.count": {"ko": "통지한 사람 수", "en": "How many were told", "vi": "Số người đã được thông báo"},
    "f.channels": {"ko": "통지 방법", "en": "How", "vi": "Hình thức"},
    "f.reported_at": {"ko": "신고한 일시", "en": "When it was reported", "vi": "Thời điểm báo cáo"},
    "f.regulator": {"ko": "신고 기관", "en": "Regulator", "vi": "Cơ quan tiếp nhận"},
    "f.reference": {"ko": "접수번호(있으면)", "en": "Its reference (if given)", "vi": "Mã tiếp nhận (nếu có)"},
    "f.outcome": {"ko": "결과", "en": "Outcome", "vi": "Kết quả"},
    "f.reason": {"ko": "사유", "en": "Reason", "vi": "Lý do"},
    "b.record": {"ko": "기록하고 72시간 시작", "en": "Record and start the 72 hours", "vi": "Ghi nhận và bắt đầu 72 giờ"},
    "b.update": {"ko": "내용 수정", "en": "Save what is known", "vi": "Lưu thông tin"},
    "b.people": {"ko": "정보주체 통지 기록", "en": "Record that people were told",
                 "vi": "Ghi nhận đã thông báo cho người bị ảnh hưởng"},
    "b.regulator": {"ko": "신고 기록", "en": "Record the report to the regulator", "vi": "Ghi nhận đã báo cáo"},
    "b.close": {"ko": "종결", "en": "Close the breach", "vi": "Đóng sự cố"},
    "s.clock": {"ko": "72시간 기한", "en": "The 72-hour clock", "vi": "Thời hạn 72 giờ"},
    "s.facts": {"ko": "확인된 사실", "en": "What is known", "vi": "Những gì đã biết"},
    "s.drafts": {"ko": "통지문·신고서 초안", "en": "Drafts", "vi": "Bản nháp"},
    "s.notice": {"ko": "정보주체 통지문 초안", "en": "Draft notice to the people affected",
                 "vi": "Bản nháp thông báo cho người bị ảnh hưởng"},
    "s.report": {"ko": "신고서 초안", "en": "Draft report to the regulator", "vi": "Bản nháp báo cáo cơ quan quản lý"},
    "s.people": {"ko": "정보주체 통지", "en": "People told", "vi": "Thông báo cho người bị ảnh hưởng"},
    "s.regulator": {"ko": "규제기관 신고", "en": "The regulator", "vi": "Báo cáo cơ quan quản lý"},
    "s.close": {"ko": "종결", "en": "Closing", "vi": "Đóng sự cố"},
    "s.audit": {"ko": "처리 이력", "en": "Audit trail", "vi": "Nhật ký xử lý"},
    "w.notify_by": {"ko": "통지·신고 기한", "en": "Tell by", "vi": "Hạn thông báo"},
    "w.outstanding": {"ko": "아직 알리지 않은 대상", "en": "Still to be told", "vi": "Chưa được thông báo"},
    "w.o.people": {"ko": "정보주체", "en": "the people", "vi": "người bị ảnh hưởng"},
    "w.o.regulator": {"ko": "규제기관", "en": "the regulator", "vi": "cơ quan quản lý"},
    "w.all_told": {"ko": "모두 알림", "en": "everyone told", "vi": "đã thông báo đầy đủ"},
    "w.told": {"ko": "통지한 사람 수: {n}", "en": "People told so far: {n}", "vi": "Số người đã được thông báo: {n}"},
    "w.reminders": {"ko": "보호책임자 알림", "en": "Reminders sent", "vi": "Nhắc nhở đã gửi"},
    "w.status.open": {"ko": "진행 중", "en": "open", "vi": "đang xử lý"},
    "w.status.closed": {"ko": "종결", "en": "closed", "vi": "đã đóng"},
    "w.manager_only": {"ko": "통지·신고 기록과 종결은 개인정보 보호책임자만 할 수 있습니다.",
                       "en": "Only the privacy manager records what was told and closes a breach.",
                       "vi": "Chỉ người phụ trách bảo vệ thông tin cá nhân mới ghi nhận việc thông báo và đóng sự cố."},
}


def t(lang: str, key: str, **values: object) -> str:
    """The text of ``key`` in ``lang`` (Korean for an unknown language), its placeholders filled."""
    text = M[key].get(lang) or M[key]["ko"]
    return text.format(**values) if values else text


def category(lang: str, code: str) -> str:
    known = DATA_CATEGORIES.get(code)
    return known.names.get(lang, code) if known is not None else code


def join(lang: str, items: list[str]) -> str:
    """A list as each language writes it in a sentence."""
    if len(items) < 2:
        return "".join(items)
    if lang == "ko":
        return ", ".join(items)
    last = " and " if lang == "en" else " và "
    return ", ".join(items[:-1]) + last + items[-1]


def number(lang: str, n: int) -> str:
    return f"{n:,}".replace(",", ".") if lang == "vi" else f"{n:,}"


def people(lang: str, n: int | None) -> str:
    if n is None:
        return t(lang, "people.unknown")
    return t(lang, "people.one" if n == 1 else "people.count", n=number(lang, n))


def when(lang: str, moment: datetime | None, zone: ZoneInfo) -> str:
    """A moment as each language writes it, in the clinic's time zone."""
    if moment is None:
        return t(lang, "time.unknown")
    local = moment.astimezone(zone)
    tz = local.strftime("%Z")
    if lang == "ko":
        return f"{local.year}년 {local.month}월 {local.day}일 {local:%H:%M} {tz}"
    if lang == "vi":
        return f"{local:%H:%M} {tz} ngày {local.day:02d}/{local.month:02d}/{local.year}"
    return f"{local.day} {local:%B} {local.year}, {local:%H:%M} {tz}"
