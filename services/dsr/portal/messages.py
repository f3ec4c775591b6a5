"""Every text the portal shows, in Korean, English and Vietnamese (one dict; a test checks that
each key has all three languages and the same ``{placeholders}``)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from shared.rules.ages import MINOR_BELOW
from shared.rules.deadlines import ANSWER_TIMES
from shared.rules.purposes import WITHDRAWABLE_PURPOSES
from shared.rules.retention import RETENTION_CLASSES

LANGUAGES = ("ko", "en", "vi")
LANGUAGE_NAMES = {"ko": "한국어", "en": "English", "vi": "Tiếng Việt"}

M: dict[str, dict[str, str]] = {
    # --- page frame -----------------------------------------------------------------------------
    "site_title": {"ko": "개인정보 열람·정정·삭제 요청", "en": "Your data: see, correct or delete it",
                   "vi": "Yêu cầu xem, sửa hoặc xóa dữ liệu cá nhân"},
    "skip": {"ko": "본문으로 건너뛰기", "en": "Skip to the form", "vi": "Chuyển đến nội dung chính"},
    "language": {"ko": "언어", "en": "Language", "vi": "Ngôn ngữ"},
    "intro": {
        "ko": "병원이 가진 본인(또는 자녀)의 개인정보를 보거나, 고치거나, 지우거나, 사용을 멈추도록 요청할 수 있습니다. "
              "요청은 무료이며, 본인 확인 후 처리됩니다.",
        "en": "You can ask the clinic to show, correct, delete or stop using the personal data it holds about you "
              "(or your child). It is free, and the clinic acts once it has checked who you are.",
        "vi": "Bạn có thể yêu cầu phòng khám cho xem, sửa, xóa hoặc ngừng sử dụng dữ liệu cá nhân của bạn "
              "(hoặc của con bạn). Việc này miễn phí, và phòng khám sẽ xử lý sau khi xác minh danh tính của bạn.",
    },
    "required_note": {"ko": "* 표시는 필수 항목입니다.", "en": "Fields marked * are required.",
                      "vi": "Các mục có dấu * là bắt buộc."},
    "optional": {"ko": "(선택)", "en": "(optional)", "vi": "(không bắt buộc)"},
    # --- the form -------------------------------------------------------------------------------
    "type_legend": {"ko": "무엇을 요청하시나요? *", "en": "What would you like to ask for? *",
                    "vi": "Bạn muốn yêu cầu gì? *"},
    "type.access": {"ko": "열람 (내 정보 보기)", "en": "See my data (access)", "vi": "Xem dữ liệu của tôi"},
    "type.access.help": {
        "ko": "병원이 어떤 정보를 가지고 있는지, 어디에 쓰는지, 얼마나 보관하는지, 누구에게 제공했는지, 어떤 동의를 했는지 알려 드립니다.",
        "en": "The clinic tells you what it holds about you, what it uses it for, how long it keeps it, "
              "who it was given to, and which consents you gave.",
        "vi": "Phòng khám cho bạn biết họ đang giữ thông tin gì về bạn, dùng vào việc gì, giữ trong bao lâu, "
              "đã cung cấp cho ai và bạn đã đồng ý những gì.",
    },
    "type.rectification": {"ko": "정정 (틀린 정보 고치기)", "en": "Correct my data", "vi": "Sửa dữ liệu sai"},
    "type.rectification.help": {
        "ko": "틀린 정보를 바로잡습니다. 진료기록은 원본을 지우지 않고 고친 내용을 덧붙입니다. 본인 확인이 끝난 때부터 정정이 끝나거나 거절될 때까지 해당 정보는 사용되지 않습니다.",
        "en": "Wrong data is corrected. A medical record keeps its original and gets an amendment. "
              "From the moment your identity is confirmed until the correction is done (or refused), the data is not used.",
        "vi": "Thông tin sai sẽ được sửa. Hồ sơ bệnh án được ghi thêm phần sửa và vẫn giữ bản gốc. "
              "Từ khi danh tính của bạn được xác nhận cho đến khi việc sửa hoàn tất (hoặc bị từ chối), thông tin đó sẽ không được sử dụng.",
    },
    "type.erasure": {"ko": "삭제 (내 정보 지우기)", "en": "Delete my data", "vi": "Xóa dữ liệu của tôi"},
    "type.erasure.help": {
        "ko": "정보를 지웁니다. 다만 법으로 보관해야 하는 기록(예: 진료기록 {medical_record_years}년)은 보관 기간이 끝날 때까지 남으며, 그 이유를 알려 드립니다.",
        "en": "Your data is deleted, except records the law makes the clinic keep (for example medical "
              "records, {medical_record_years} years): those stay until their period ends, and you are told why.",
        "vi": "Dữ liệu của bạn sẽ bị xóa, trừ các hồ sơ luật bắt buộc phải lưu (ví dụ hồ sơ bệnh án: {medical_record_years} năm): "
              "những hồ sơ này được giữ đến hết thời hạn và bạn sẽ được giải thích lý do.",
    },
    "type.restriction": {"ko": "처리정지 (사용 멈추기)", "en": "Stop using my data (restriction)",
                         "vi": "Tạm ngừng sử dụng dữ liệu"},
    "type.restriction.help": {
        "ko": "정보를 지우지 않고 사용만 멈춥니다. 정지를 풀어 달라고 하실 때까지 유지됩니다.",
        "en": "Nothing is deleted, but the clinic stops using your data until the restriction is lifted.",
        "vi": "Không xóa gì, nhưng phòng khám ngừng sử dụng dữ liệu của bạn cho đến khi lệnh tạm ngừng được dỡ bỏ.",
    },
    "type.consent_withdrawal": {"ko": "동의 철회", "en": "Withdraw a consent", "vi": "Rút lại sự đồng ý"},
    "type.consent_withdrawal.help": {
        "ko": "이전에 한 동의(예: 광고 문자 수신)를 거둡니다. 선택하지 않으면 모든 동의를 철회합니다. 진료에 필요한 정보는 동의가 아닌 법에 따라 처리됩니다. 본인 확인이 끝나면 따로 결정을 기다리지 않고 바로 철회됩니다.",
        "en": "Take back consents you gave (for example to marketing messages). If you pick none, all are "
              "withdrawn. Data needed for your treatment is handled under the law, not by consent. It takes effect "
              "as soon as your identity is confirmed, with no further decision.",
        "vi": "Rút lại những sự đồng ý bạn đã cho (ví dụ nhận tin quảng cáo). Nếu không chọn mục nào, tất cả sẽ "
              "được rút lại. Dữ liệu cần cho việc điều trị được xử lý theo luật, không dựa trên sự đồng ý. "
              "Việc rút lại có hiệu lực ngay khi danh tính của bạn được xác nhận, không cần chờ quyết định nào khác.",
    },
    "type.membership_withdrawal": {"ko": "회원 탈퇴", "en": "Close my website membership",
                                   "vi": "Hủy tài khoản thành viên"},
    "type.membership_withdrawal.help": {
        "ko": "웹사이트 회원에서 탈퇴하고 회원 정보와 관련 동의를 삭제합니다. 본인 확인이 끝나면 바로 처리됩니다.",
        "en": "Your website membership ends; its data and the consents that came with it are removed, as soon "
              "as your identity is confirmed.",
        "vi": "Tài khoản thành viên trên trang web bị hủy; dữ liệu thành viên và các sự đồng ý kèm theo bị xóa "
              "ngay khi danh tính của bạn được xác nhận.",
    },
    "type.objection": {"ko": "이의신청", "en": "Object to a refusal or an extension",
                       "vi": "Phản đối việc từ chối hoặc gia hạn"},
    "type.objection.help": {
        "ko": "거절된 요청이나 처리 기한 연장에 이의를 제기합니다. 안내에 적힌 접수번호가 필요합니다.",
        "en": "Object to a request the clinic refused, or to the extension of its deadline. You need the reference "
              "given in the clinic's answer.",
        "vi": "Phản đối một yêu cầu đã bị phòng khám từ chối, hoặc việc gia hạn thời hạn trả lời. Bạn cần số tham chiếu "
              "ghi trong thông báo của phòng khám.",
    },
    "type.complaint": {"ko": "개인정보 민원", "en": "Make a complaint", "vi": "Gửi khiếu nại"},
    "type.complaint.help": {
        "ko": "병원의 개인정보 처리에 관한 불만을 개인정보 보호책임자에게 알립니다. 보호책임자가 직접 답합니다.",
        "en": "Tell the clinic's privacy officer about a problem with how the clinic handles personal data. "
              "The privacy officer answers you.",
        "vi": "Báo cho người phụ trách bảo vệ dữ liệu của phòng khám về vấn đề trong cách phòng khám xử lý dữ liệu "
              "cá nhân. Người phụ trách sẽ trả lời bạn.",
    },
    "who_legend": {"ko": "누가 요청하시나요? *", "en": "Who is asking? *", "vi": "Ai là người yêu cầu? *"},
    "who.self": {"ko": "본인", "en": "Myself", "vi": "Chính tôi"},
    "who.self.help": {"ko": "본인의 정보에 대한 요청입니다.", "en": "The request is about your own data.",
                      "vi": "Yêu cầu về dữ liệu của chính bạn."},
    "who.legal_representative": {"ko": "부모 또는 법정대리인 (아동을 대신하여)",
                                 "en": "Parent or legal guardian (for a child)",
                                 "vi": "Cha mẹ hoặc người giám hộ (thay cho con)"},
    "who.legal_representative.help": {
        "ko": "만 {kr_minor_below}세 미만 아동의 요청은 법정대리인이 해야 합니다. 가족관계증명서 등으로 대리 권한을 확인합니다.",
        "en": "A child under {kr_minor_below} needs a parent or legal guardian to ask for them. The clinic will check your "
              "authority (for example a family relation certificate).",
        "vi": "Trẻ dưới {kr_minor_below} tuổi cần cha mẹ hoặc người giám hộ yêu cầu thay. Phòng khám sẽ kiểm tra quyền đại diện "
              "của bạn (ví dụ giấy chứng nhận quan hệ gia đình).",
    },
    "who.agent": {"ko": "대리인 (위임받은 사람)", "en": "Someone the person authorised (agent)",
                  "vi": "Người được ủy quyền"},
    "who.agent.help": {"ko": "본인이 서명한 위임장이 필요합니다. 아동을 대신할 수는 없습니다.",
                       "en": "You need a power of attorney signed by the person. An agent cannot ask for a child.",
                       "vi": "Cần giấy ủy quyền có chữ ký của người đó. Người được ủy quyền không thể yêu cầu thay cho trẻ em."},
    "residence": {"ko": "대상자가 사는 곳", "en": "Where does the person live?", "vi": "Người đó sống ở đâu?"},
    "residence.help": {
        "ko": "병원의 법({law_name})이 항상 적용됩니다. 다른 나라의 법은 기한을 줄이거나 권리를 더할 수만 있고, 늘리지는 않습니다.",
        "en": "The clinic's own law ({law_name}) always applies. Another country's law can only shorten the time or add "
              "a right, never lengthen it.",
        "vi": "Luật của phòng khám ({law_name}) luôn được áp dụng. Luật của nước khác chỉ có thể rút ngắn thời hạn hoặc "
              "thêm quyền, không bao giờ kéo dài thời hạn.",
    },
    "residence.KR": {"ko": "대한민국", "en": "Korea", "vi": "Hàn Quốc"},
    "residence.VN": {"ko": "베트남", "en": "Vietnam", "vi": "Việt Nam"},
    "residence.EU": {"ko": "유럽연합 회원국", "en": "A country of the European Union",
                     "vi": "Một nước thuộc Liên minh châu Âu"},
    "residence.other": {"ko": "그 밖의 나라", "en": "Another country", "vi": "Nước khác"},
    "law.KR": {"ko": "대한민국 개인정보보호법", "en": "Korea's Personal Information Protection Act",
               "vi": "Luật Bảo vệ Thông tin Cá nhân của Hàn Quốc"},
    "law.VN": {"ko": "베트남 개인정보보호법", "en": "Vietnam's personal data protection law",
               "vi": "Luật Bảo vệ dữ liệu cá nhân của Việt Nam"},
    "law.EU": {"ko": "EU 일반개인정보보호규정(GDPR)", "en": "the EU's General Data Protection Regulation",
               "vi": "Quy định chung về bảo vệ dữ liệu của EU (GDPR)"},
    "requester_section": {"ko": "요청하시는 분", "en": "About you", "vi": "Thông tin người yêu cầu"},
    "requester_section.help": {"ko": "다른 사람을 대신하여 요청하실 때만 작성합니다.",
                               "en": "Only when you ask for someone else.",
                               "vi": "Chỉ điền khi bạn yêu cầu thay cho người khác."},
    "requester_name": {"ko": "요청하시는 분 성함 *", "en": "Your full name *", "vi": "Họ tên của bạn *"},
    "relationship_detail": {"ko": "그분과의 관계 *", "en": "Your relationship to them *",
                            "vi": "Quan hệ của bạn với người đó *"},
    "relationship_detail.help": {"ko": "예: 어머니, 아버지, 후견인", "en": "For example: mother, father, guardian",
                                 "vi": "Ví dụ: mẹ, bố, người giám hộ"},
    "subject_section": {"ko": "요청 대상자", "en": "The person the request is about",
                        "vi": "Người được yêu cầu"},
    "name": {"ko": "성함 *", "en": "Full name *", "vi": "Họ tên *"},
    "name.help": {"ko": "병원에 등록된 이름", "en": "As the clinic knows them", "vi": "Như đã đăng ký tại phòng khám"},
    "birth_date": {"ko": "생년월일 *", "en": "Date of birth *", "vi": "Ngày sinh *"},
    "birth_date.help": {"ko": "예: 2016-05-05 (년-월-일)", "en": "For example 2016-05-05 (year-month-day)",
                        "vi": "Ví dụ 05/05/2016 (ngày/tháng/năm) hoặc 2016-05-05"},
    "subject_id": {"ko": "병원 환자번호 (선택)", "en": "Clinic patient number (optional)",
                   "vi": "Mã bệnh nhân tại phòng khám (không bắt buộc)"},
    "subject_id.help": {"ko": "아시면 적어 주세요. 확인이 빨라집니다.", "en": "If you know it: it speeds up the check.",
                        "vi": "Nếu bạn biết, hãy ghi vào để việc xác minh nhanh hơn."},
    "contact": {"ko": "답변 받을 연락처 *", "en": "Where should we answer you? *",
                "vi": "Chúng tôi trả lời bạn qua đâu? *"},
    "contact.help": {"ko": "이메일 또는 휴대전화 번호", "en": "Email address or mobile number",
                     "vi": "Email hoặc số điện thoại di động"},
    "correction_section": {"ko": "고칠 내용", "en": "What should be corrected", "vi": "Nội dung cần sửa"},
    "correction_section.help": {"ko": "정정 요청일 때만 작성합니다.", "en": "Only for a correction.",
                                "vi": "Chỉ điền khi yêu cầu sửa dữ liệu."},
    "correction_item": {"ko": "어떤 정보인가요? *", "en": "Which information? *", "vi": "Thông tin nào? *"},
    "correction_item.help": {"ko": "예: 휴대전화 번호, 주소", "en": "For example: phone number, address",
                             "vi": "Ví dụ: số điện thoại, địa chỉ"},
    "correction_current": {"ko": "지금 적혀 있는 내용 (선택)", "en": "What it says now (optional)",
                           "vi": "Nội dung hiện tại (không bắt buộc)"},
    "correction_corrected": {"ko": "올바른 내용 *", "en": "What it should say *", "vi": "Nội dung đúng *"},
    "objects_to": {"ko": "거절된 요청의 접수번호 *", "en": "Reference of the refused request *",
                   "vi": "Số tham chiếu của yêu cầu bị từ chối *"},
    "objects_to.help": {"ko": "예: DSR-2026-…  이의신청일 때만 작성합니다.", "en": "For example DSR-2026-…  Only for an objection.",
                        "vi": "Ví dụ DSR-2026-…  Chỉ điền khi phản đối."},
    "complaint": {"ko": "민원 내용 *", "en": "Your complaint *", "vi": "Nội dung khiếu nại *"},
    "complaint.help": {"ko": "무엇이 문제인지, 언제 일어났는지 적어 주세요. 민원일 때만 작성합니다.",
                       "en": "What went wrong, and when. Only for a complaint.",
                       "vi": "Điều gì đã xảy ra và khi nào. Chỉ điền khi gửi khiếu nại."},
    "purposes_legend": {"ko": "철회할 동의 (선택하지 않으면 전부)", "en": "Consents to withdraw (none ticked: all)",
                        "vi": "Sự đồng ý muốn rút lại (không chọn: tất cả)"},
    "purposes.help": {"ko": "동의 철회일 때만 해당합니다.", "en": "Only for withdrawing a consent.",
                      "vi": "Chỉ áp dụng khi rút lại sự đồng ý."},
    "purpose.marketing_email": {"ko": "광고 이메일", "en": "Marketing emails", "vi": "Email quảng cáo"},
    "purpose.marketing_sms": {"ko": "광고 문자", "en": "Marketing text messages", "vi": "Tin nhắn quảng cáo"},
    "purpose.marketing_night": {"ko": "야간(21시~8시) 광고", "en": "Marketing at night (21:00–08:00)",
                                "vi": "Quảng cáo ban đêm (21:00–08:00)"},
    "purpose.cookies_analytics": {"ko": "웹사이트 분석 쿠키", "en": "Website analytics cookies",
                                  "vi": "Cookie phân tích trang web"},
    "purpose.model_photos": {"ko": "모델 사진 사용", "en": "Use of model photos", "vi": "Sử dụng ảnh người mẫu"},
    "purpose.third_party_provision": {"ko": "제3자 제공", "en": "Giving data to third parties",
                                      "vi": "Cung cấp dữ liệu cho bên thứ ba"},
    "purpose.sensitive_health": {"ko": "민감정보(건강정보) 처리", "en": "Sensitive health data",
                                 "vi": "Dữ liệu sức khỏe nhạy cảm"},
    "submit": {"ko": "요청 보내기", "en": "Send my request", "vi": "Gửi yêu cầu"},
    "kept_title": {"ko": "법에 따라 병원이 보관해야 하는 기록", "en": "What the clinic must keep by law",
                   "vi": "Những hồ sơ phòng khám phải lưu theo luật"},
    "kept_intro": {"ko": "아래 기록은 삭제를 요청하셔도 정해진 기간 동안 보관되며, 기간이 끝나면 바로 파기됩니다.",
                   "en": "These records stay for their legal period even if you ask for deletion, and are destroyed "
                         "as soon as it ends.",
                   "vi": "Các hồ sơ dưới đây vẫn được lưu trong thời hạn luật định dù bạn yêu cầu xóa, và sẽ bị hủy "
                         "ngay khi hết hạn."},
    "deadline_title": {"ko": "언제 답을 받나요?", "en": "When will I get an answer?", "vi": "Khi nào tôi nhận được trả lời?"},
    "deadline.KR": {"ko": "병원은 요청을 받은 날부터 {kr_days}일 안에 답합니다 (대한민국 개인정보보호법).",
                    "en": "The clinic answers within {kr_days} days of receiving your request (Korea's PIPA).",
                    "vi": "Phòng khám trả lời trong vòng {kr_days} ngày kể từ khi nhận yêu cầu (PIPA của Hàn Quốc)."},
    "deadline.VN": {"ko": "병원은 {vn_ack_days}영업일 안에 접수를 확인하고, 요청을 받은 날부터 {vn_days}일(수탁자가 있으면 "
                          "{vn_days_processor}일) 안에 답합니다 (베트남 법).",
                    "en": "The clinic confirms receipt within {vn_ack_days} working days and answers within {vn_days} days "
                          "({vn_days_processor} with a processor) of receiving your request (Vietnam's law).",
                    "vi": "Phòng khám xác nhận đã nhận trong {vn_ack_days} ngày làm việc và trả lời trong vòng {vn_days} ngày "
                          "({vn_days_processor} ngày nếu có bên xử lý) kể từ khi nhận yêu cầu (luật Việt Nam)."},
    "deadline.EU": {"ko": "병원은 요청을 받은 날부터 {eu_months}개월 안에 답합니다 (GDPR).",
                    "en": "The clinic answers within {eu_months} month of receiving your request (GDPR).",
                    "vi": "Phòng khám trả lời trong vòng {eu_months} tháng kể từ khi nhận yêu cầu (GDPR)."},
    "deadline_intro": {
        "ko": "사시는 나라의 법이 더 짧은 기한이나 더 많은 권리를 주면 그것도 적용됩니다(예: 베트남은 {vn_ack_days}영업일 안에 접수 "
              "확인). 기한이 늘어나는 일은 없습니다. 연장이 필요하면 한 번만, 법적 근거와 이유, 이의신청 방법과 함께 알려 드립니다.",
        "en": "If the law of the country you live in gives a shorter time or more rights, that applies too (for "
              "example Vietnam: receipt confirmed within {vn_ack_days} working days); it never makes the time longer. "
              "An extension can happen once: you are told its legal ground, why, and how to object.",
        "vi": "Nếu luật của nước bạn sống cho thời hạn ngắn hơn hoặc nhiều quyền hơn thì cũng được áp dụng (ví dụ Việt "
              "Nam: xác nhận đã nhận trong {vn_ack_days} ngày làm việc); thời hạn không bao giờ bị kéo dài vì điều đó. "
              "Thời hạn chỉ được gia hạn một lần, và bạn sẽ được báo căn cứ pháp lý, lý do và cách phản đối.",
    },
    "years": {"ko": "{n}년", "en": "{n} years", "vi": "{n} năm"},
    "months": {"ko": "{n}개월", "en": "{n} months", "vi": "{n} tháng"},
    # --- live and server-side validation -------------------------------------------------------
    "errors_title": {"ko": "아래 항목을 확인해 주세요", "en": "Please check the following",
                     "vi": "Vui lòng kiểm tra các mục sau"},
    "err.required": {"ko": "이 항목을 입력해 주세요.", "en": "Please fill this in.", "vi": "Vui lòng điền mục này."},
    "err.choose": {"ko": "하나를 선택해 주세요.", "en": "Please choose one.", "vi": "Vui lòng chọn một mục."},
    "err.date_format": {"ko": "년-월-일 형식으로 적어 주세요 (예: 2016-05-05).",
                        "en": "Write the date as year-month-day, for example 2016-05-05.",
                        "vi": "Vui lòng ghi theo dạng ngày/tháng/năm, ví dụ 05/05/2016."},
    "err.date_future": {"ko": "생년월일이 오늘 이후일 수 없습니다.", "en": "A date of birth cannot be in the future.",
                        "vi": "Ngày sinh không thể ở tương lai."},
    "err.date_old": {"ko": "1900년 이후 날짜를 적어 주세요.", "en": "Please give a date after 1900.",
                     "vi": "Vui lòng ghi ngày sau năm 1900."},
    "err.contact": {"ko": "이메일 주소나 전화번호를 적어 주세요.", "en": "Give an email address or a phone number.",
                    "vi": "Vui lòng ghi địa chỉ email hoặc số điện thoại."},
    "err.too_long": {"ko": "너무 깁니다 (최대 {max}자).", "en": "Too long (at most {max} characters).",
                     "vi": "Quá dài (tối đa {max} ký tự)."},
    "err.subject_id": {"ko": "영문, 숫자와 . _ : @ - 만 쓸 수 있습니다.",
                       "en": "Only letters, digits and . _ : @ - are allowed.",
                       "vi": "Chỉ dùng chữ cái, chữ số và . _ : @ -"},
    "err.agent_for_child": {"ko": "만 {age}세 미만 아동의 요청은 대리인이 아니라 부모 또는 법정대리인이 해야 합니다.",
                            "en": "For a child under {age}, a parent or legal guardian must ask, not an agent.",
                            "vi": "Với trẻ dưới {age} tuổi, cha mẹ hoặc người giám hộ phải yêu cầu, không phải người được ủy quyền."},
    "err.objects_to_unknown": {"ko": "이 접수번호의 요청이 없습니다.", "en": "There is no request with this reference.",
                               "vi": "Không có yêu cầu nào với số tham chiếu này."},
    "err.objects_to_not_rejected": {"ko": "거절된 요청이나, 처리 중에 기한이 연장된 요청에만 이의신청을 할 수 있습니다.",
                                    "en": "Only a refused request, or one still open whose deadline was extended, can "
                                          "be objected to.",
                                    "vi": "Chỉ có thể phản đối một yêu cầu đã bị từ chối, hoặc một yêu cầu đang xử lý "
                                          "đã được gia hạn."},
    "err.invalid": {"ko": "올바르지 않은 값입니다.", "en": "This value is not valid.", "vi": "Giá trị này không hợp lệ."},
    "err.rate_limited": {"ko": "요청이 너무 많습니다. 1분 뒤에 다시 시도하시거나 병원에 연락해 주세요.",
                         "en": "Too many requests from here. Please wait a minute, or contact the clinic.",
                         "vi": "Có quá nhiều yêu cầu. Vui lòng đợi một phút hoặc liên hệ phòng khám."},
    "hint.child_self": {
        "ko": "만 {age}세 미만이시네요. 부모님이나 법정대리인이 대신 요청하거나, 이 요청에 함께해야 처리할 수 있습니다. "
              "그대로 보내시면 보호자가 함께할 때까지 기다립니다.",
        "en": "This person is under {age}. A parent or legal guardian must file for them, or join this request, "
              "before anything is done. If you send it as it is, it waits for a guardian.",
        "vi": "Người này dưới {age} tuổi. Cha mẹ hoặc người giám hộ phải yêu cầu thay, hoặc tham gia yêu cầu này, "
              "thì mới được xử lý. Nếu bạn gửi như vậy, yêu cầu sẽ chờ người giám hộ.",
    },
    "hint.guardian_adult": {
        "ko": "만 {age}세 이상이면 본인이 직접 요청하거나 위임장을 가진 대리인이 요청합니다.",
        "en": "From {age}, the person asks themselves, or an agent with their power of attorney.",
        "vi": "Từ {age} tuổi, người đó tự yêu cầu, hoặc người được ủy quyền có giấy ủy quyền.",
    },
    # --- after filing ---------------------------------------------------------------------------
    "filed_title": {"ko": "요청이 접수되었습니다", "en": "Your request was received", "vi": "Yêu cầu của bạn đã được tiếp nhận"},
    "reference": {"ko": "접수번호", "en": "Reference", "vi": "Số tham chiếu"},
    "reference.help": {"ko": "병원에 전화하실 때 이 번호를 알려 주세요.", "en": "Give this number if you call the clinic.",
                       "vi": "Hãy đọc số này khi bạn gọi cho phòng khám."},
    "due": {"ko": "처리 기한", "en": "Answer due by", "vi": "Hạn trả lời"},
    "private_link": {"ko": "나만의 확인 링크", "en": "Your private link", "vi": "Đường dẫn riêng của bạn"},
    "private_link.help": {
        "ko": "이 링크로 진행 상황과 결과를 확인합니다. 링크를 가진 사람은 누구나 볼 수 있으니 안전하게 보관하고 다른 사람과 공유하지 마세요. "
              "다시 보여 드릴 수 없습니다.",
        "en": "This link shows the progress and the result. Anyone with it can read them: keep it safe and do not "
              "share it. It cannot be shown again.",
        "vi": "Đường dẫn này cho xem tiến độ và kết quả. Ai có đường dẫn cũng xem được: hãy giữ kỹ và không chia sẻ. "
              "Đường dẫn sẽ không được hiển thị lại.",
    },
    "open_link": {"ko": "내 요청 보기", "en": "Open my request", "vi": "Xem yêu cầu của tôi"},
    "copy_link": {"ko": "링크 복사", "en": "Copy the link", "vi": "Sao chép đường dẫn"},
    "copied": {"ko": "복사했습니다.", "en": "Copied.", "vi": "Đã sao chép."},
    "next_title": {"ko": "다음에 필요한 것", "en": "What is needed next", "vi": "Cần làm gì tiếp theo"},
    "nothing_needed": {"ko": "지금은 기다리시면 됩니다.", "en": "Nothing: please wait for the answer.",
                       "vi": "Không cần gì thêm: vui lòng chờ trả lời."},
    # --- status ---------------------------------------------------------------------------------
    "status_title": {"ko": "요청 진행 상황", "en": "Your request", "vi": "Tình trạng yêu cầu"},
    "token_label": {"ko": "확인 코드", "en": "Your private code", "vi": "Mã riêng của bạn"},
    "token_help": {"ko": "접수할 때 받은 링크의 # 뒤 부분(t= 다음)입니다.",
                   "en": "The part of your private link after “#t=”.",
                   "vi": "Phần nằm sau “#t=” trong đường dẫn riêng của bạn."},
    "show_status": {"ko": "진행 상황 보기", "en": "Show my request", "vi": "Xem yêu cầu"},
    "loading": {"ko": "불러오는 중…", "en": "Loading…", "vi": "Đang tải…"},
    "err.token": {"ko": "이 코드로는 이 요청을 열 수 없습니다. 받은 링크를 그대로 사용해 주세요.",
                  "en": "This code does not open this request. Please use the link exactly as you received it.",
                  "vi": "Mã này không mở được yêu cầu này. Vui lòng dùng đúng đường dẫn bạn đã nhận."},
    "err.not_found": {"ko": "요청을 찾을 수 없습니다.", "en": "There is no such request.", "vi": "Không tìm thấy yêu cầu."},
    "err.destroyed": {"ko": "보관 기간이 끝나 이 요청의 개인정보는 파기되었습니다.",
                      "en": "This request's personal data was destroyed at the end of its retention period.",
                      "vi": "Dữ liệu cá nhân của yêu cầu này đã bị hủy khi hết thời hạn lưu trữ."},
    "status_now": {"ko": "현재 상태", "en": "Status", "vi": "Trạng thái"},
    "request_type": {"ko": "요청 종류", "en": "Request", "vi": "Loại yêu cầu"},
    "received_on": {"ko": "접수일", "en": "Received", "vi": "Ngày nhận"},
    "overdue": {"ko": "기한이 지났습니다. 병원 개인정보 보호책임자에게 알렸습니다.",
                "en": "The deadline has passed; the clinic's privacy officer has been told.",
                "vi": "Đã quá hạn; người phụ trách bảo vệ dữ liệu của phòng khám đã được thông báo."},
    "extended": {"ko": "기한이 연장되었습니다. 이유: {reason}", "en": "The deadline was extended. Reason: {reason}",
                 "vi": "Thời hạn đã được gia hạn. Lý do: {reason}"},
    "extended.ground": {"ko": "법적 근거", "en": "Legal ground", "vi": "Căn cứ pháp lý"},
    "extension_withdrawn": {"ko": "이의신청이 받아들여져 연장이 취소되었습니다. 원래 기한이 다시 적용됩니다.",
                            "en": "Your objection was upheld: the extension is withdrawn and the original deadline "
                                  "applies again.",
                            "vi": "Đơn phản đối của bạn đã được chấp nhận: việc gia hạn bị hủy và thời hạn ban đầu "
                                  "được áp dụng lại."},
    "acknowledge_by": {"ko": "접수 확인 기한", "en": "Receipt confirmed by", "vi": "Xác nhận đã nhận trước"},
    "acknowledged": {"ko": "접수 확인됨", "en": "receipt confirmed", "vi": "đã xác nhận đã nhận"},
    "status.received": {"ko": "접수됨", "en": "Received", "vi": "Đã nhận"},
    "status.verifying": {"ko": "본인 확인 중", "en": "Checking who you are", "vi": "Đang xác minh danh tính"},
    "status.in_review": {"ko": "검토 중", "en": "Being reviewed", "vi": "Đang xem xét"},
    "status.approved": {"ko": "승인됨", "en": "Approved", "vi": "Đã chấp thuận"},
    "status.in_progress": {"ko": "처리 중", "en": "Being carried out", "vi": "Đang thực hiện"},
    "status.completed": {"ko": "완료", "en": "Done", "vi": "Đã hoàn tất"},
    "status.partially_completed": {"ko": "완료 (법정 보관 기록 제외)", "en": "Done, except what the law makes the clinic keep",
                                   "vi": "Đã hoàn tất, trừ hồ sơ luật bắt buộc phải lưu"},
    "status.rejected": {"ko": "거절됨", "en": "Refused", "vi": "Bị từ chối"},
    "status.withdrawn": {"ko": "철회됨", "en": "Withdrawn", "vi": "Đã rút lại"},
    "wait.identity_verification": {
        "ko": "본인 확인: 병원이 휴대전화 본인인증, 서명한 서류 등으로 요청하신 분이 누구인지 확인합니다.",
        "en": "Identity check: the clinic confirms who you are (mobile-phone verification, a signed document…).",
        "vi": "Xác minh danh tính: phòng khám xác nhận bạn là ai (xác thực qua điện thoại, giấy tờ có chữ ký…).",
    },
    "wait.proof_of_guardianship": {
        "ko": "법정대리인 증명: 가족관계증명서 등 아동의 부모 또는 후견인임을 보여 주는 서류가 필요합니다.",
        "en": "Proof of guardianship: a document showing you are the child's parent or legal guardian "
              "(for example a family relation certificate).",
        "vi": "Giấy tờ chứng minh quyền giám hộ: giấy tờ cho thấy bạn là cha mẹ hoặc người giám hộ hợp pháp của trẻ "
              "(ví dụ giấy chứng nhận quan hệ gia đình).",
    },
    "wait.power_of_attorney": {
        "ko": "위임장: 본인이 서명한 위임장이 필요합니다.",
        "en": "Power of attorney: a written authorisation signed by the person.",
        "vi": "Giấy ủy quyền: giấy ủy quyền có chữ ký của người đó.",
    },
    "wait.guardian": {
        "ko": "보호자: 아동 본인의 요청이므로 부모 또는 법정대리인이 함께해야 합니다. 병원에 연락해 주세요.",
        "en": "A guardian: this is a child's own request, so a parent or legal guardian must join it. "
              "Please contact the clinic.",
        "vi": "Người giám hộ: đây là yêu cầu của chính trẻ, nên cha mẹ hoặc người giám hộ phải tham gia. "
              "Vui lòng liên hệ phòng khám.",
    },
    "wait.answer": {"ko": "개인정보 보호책임자가 민원에 대한 답변을 준비하고 있습니다.",
                    "en": "The clinic's privacy officer is preparing an answer to your complaint.",
                    "vi": "Người phụ trách bảo vệ dữ liệu của phòng khám đang chuẩn bị trả lời khiếu nại của bạn."},
    "wait.decision": {"ko": "개인정보 보호책임자의 결정을 기다리고 있습니다.",
                      "en": "The clinic's privacy officer is deciding.",
                      "vi": "Người phụ trách bảo vệ dữ liệu của phòng khám đang quyết định."},
    "wait.clinic_systems": {"ko": "병원의 각 시스템이 요청을 처리하고 있습니다.",
                            "en": "The clinic's systems are carrying out your request.",
                            "vi": "Các hệ thống của phòng khám đang thực hiện yêu cầu của bạn."},
    "wait.lift": {"ko": "처리정지는 해제를 요청하실 때까지 유지됩니다.",
                  "en": "The restriction stays until you ask for it to be lifted.",
                  "vi": "Lệnh tạm ngừng được giữ cho đến khi bạn đề nghị dỡ bỏ."},
    "history_title": {"ko": "처리 기록", "en": "What happened so far", "vi": "Những gì đã diễn ra"},
    "history.line": {"ko": "{who}: {what}", "en": "{what} — by {who}", "vi": "{what} — bởi {who}"},
    "actor.requester": {"ko": "요청하신 분", "en": "you", "vi": "bạn"},
    "actor.system": {"ko": "시스템", "en": "the system", "vi": "hệ thống"},
    "actor.staff": {"ko": "병원 직원", "en": "clinic staff", "vi": "nhân viên phòng khám"},
    "actor.privacy_manager": {"ko": "개인정보 보호책임자", "en": "the privacy officer",
                              "vi": "người phụ trách bảo vệ dữ liệu"},
    "actor.objection": {"ko": "이의신청", "en": "your objection", "vi": "đơn phản đối của bạn"},
    "result_title": {"ko": "결과", "en": "The result", "vi": "Kết quả"},
    "result.items": {"ko": "병원이 보유한 정보", "en": "What the clinic holds", "vi": "Thông tin phòng khám đang giữ"},
    "result.purposes": {"ko": "이용 목적", "en": "What it is used for", "vi": "Mục đích sử dụng"},
    "result.retention": {"ko": "보관 기간과 근거", "en": "How long it is kept, and why", "vi": "Thời hạn lưu và căn cứ"},
    "result.recipients": {"ko": "제공받은 곳", "en": "Who it was given to", "vi": "Đã cung cấp cho"},
    "result.consents": {"ko": "동의 내역", "en": "Your consents", "vi": "Các sự đồng ý của bạn"},
    "result.systems": {"ko": "시스템별 처리 결과", "en": "What each system did", "vi": "Kết quả của từng hệ thống"},
    "result.kept": {"ko": "법에 따라 보관된 기록", "en": "Kept because the law requires it", "vi": "Được giữ lại theo luật"},
    "result.none": {"ko": "없음", "en": "None", "vi": "Không có"},
    # --- the printable report (PDF) ------------------------------------------------------------
    # --- on the status page: withdrawing, a guardian joining ---------------------------------------
    "withdraw.title": {"ko": "요청 철회", "en": "Withdraw this request", "vi": "Rút lại yêu cầu này"},
    "withdraw.reason": {"ko": "사유 (선택)", "en": "Why (optional)", "vi": "Lý do (không bắt buộc)"},
    "withdraw.confirm": {"ko": "이 요청을 철회합니다. 철회하면 되돌릴 수 없습니다.",
                         "en": "I withdraw this request. It cannot be undone.",
                         "vi": "Tôi rút lại yêu cầu này. Việc này không thể hoàn tác."},
    "withdraw.submit": {"ko": "요청 철회", "en": "Withdraw the request", "vi": "Rút lại yêu cầu"},
    "withdraw.confirm_needed": {"ko": "철회하려면 확인란에 표시해 주세요.", "en": "Tick the box to withdraw.",
                                "vi": "Vui lòng đánh dấu ô để rút lại yêu cầu."},
    "withdraw.too_late": {"ko": "이미 끝난 요청은 철회할 수 없습니다.", "en": "A request that has ended can no longer be withdrawn.",
                          "vi": "Không thể rút lại một yêu cầu đã kết thúc."},
    "withdraw.done": {"ko": "요청을 철회했습니다.", "en": "The request was withdrawn.", "vi": "Yêu cầu đã được rút lại."},
    "guardian.title": {"ko": "법정대리인으로 참여하기", "en": "Join as the child's legal guardian",
                       "vi": "Tham gia với tư cách người giám hộ hợp pháp của trẻ"},
    "guardian.help": {"ko": "만 14세 미만 아동이 직접 한 요청은 법정대리인이 참여해야 진행됩니다. 병원이 법정대리인임을 확인한 뒤 처리합니다.",
                      "en": "A child under 14's own request goes on once a legal guardian joins it. The clinic then "
                            "checks that you are the child's guardian.",
                      "vi": "Yêu cầu do trẻ dưới 14 tuổi tự gửi chỉ được xử lý khi người giám hộ hợp pháp tham gia. "
                            "Sau đó phòng khám sẽ xác minh bạn là người giám hộ của trẻ."},
    "guardian.name": {"ko": "법정대리인 이름", "en": "Your name", "vi": "Họ tên của bạn"},
    "guardian.relationship_detail": {"ko": "아동과의 관계 (예: 어머니)", "en": "Your relationship to the child (e.g. mother)",
                                     "vi": "Quan hệ với trẻ (ví dụ: mẹ)"},
    "guardian.contact": {"ko": "연락처 (이메일 또는 휴대전화)", "en": "How to reach you (email or mobile phone)",
                         "vi": "Cách liên hệ với bạn (email hoặc điện thoại di động)"},
    "guardian.submit": {"ko": "법정대리인으로 참여", "en": "Join the request", "vi": "Tham gia yêu cầu"},
    "guardian.required": {"ko": "이 항목을 입력해 주세요.", "en": "Please fill in this field.", "vi": "Vui lòng điền mục này."},
    "guardian.too_long": {"ko": "너무 깁니다.", "en": "This is too long.", "vi": "Nội dung quá dài."},
    "guardian.not_needed": {"ko": "이 요청에는 법정대리인의 참여가 필요하지 않습니다.",
                            "en": "This request does not wait for a guardian.",
                            "vi": "Yêu cầu này không cần người giám hộ tham gia."},
    "guardian.done": {"ko": "법정대리인으로 참여했습니다. 병원이 확인한 뒤 처리합니다.",
                      "en": "You joined the request. The clinic will check that you are the guardian, then go on.",
                      "vi": "Bạn đã tham gia yêu cầu. Phòng khám sẽ xác minh bạn là người giám hộ rồi tiếp tục xử lý."},
    "correction_more": {"ko": "정정할 내용 {n} (선택)", "en": "Correction {n} (optional)", "vi": "Nội dung cần sửa {n} (không bắt buộc)"},
    "err.report": {"ko": "지금은 보고서를 만들 수 없습니다. 병원에 문의해 주세요.",
                   "en": "The report cannot be made right now. Please ask the clinic.",
                   "vi": "Hiện không thể tạo báo cáo. Vui lòng liên hệ phòng khám."},
    "pdf.download": {"ko": "결과 보고서 내려받기 (PDF, 인쇄용)", "en": "Download the report (PDF, to print)",
                     "vi": "Tải báo cáo kết quả (PDF, để in)"},
    "pdf.title": {"ko": "개인정보 요청 결과 보고서", "en": "Report on your personal data request",
                  "vi": "Báo cáo kết quả yêu cầu về dữ liệu cá nhân"},
    "pdf.type": {"ko": "요청", "en": "Request", "vi": "Yêu cầu"},
    "pdf.status": {"ko": "상태", "en": "Status", "vi": "Tình trạng"},
    "pdf.closed": {"ko": "완료일", "en": "Closed on", "vi": "Ngày hoàn tất"},
    "pdf.made": {"ko": "보고서 작성일", "en": "Report made on", "vi": "Ngày lập báo cáo"},
    "pdf.found": {"ko": "각 시스템에서 찾은 정보", "en": "What each system holds", "vi": "Thông tin tìm thấy ở từng hệ thống"},
    "pdf.holds_nothing": {"ko": "정보가 없는 시스템", "en": "Systems that hold nothing about this person",
                          "vi": "Các hệ thống không lưu thông tin nào"},
    "pdf.provided_by_law": {"ko": "법률에 따라 제공된 정보", "en": "Provided because a law required it",
                            "vi": "Đã cung cấp theo yêu cầu của luật"},
    "pdf.outcome.done": {"ko": "처리됨", "en": "done", "vi": "đã xử lý"},
    "pdf.outcome.partially_done": {"ko": "일부 처리됨 (법에 따라 일부 보관)", "en": "partly done (some kept by law)",
                                   "vi": "đã xử lý một phần (một phần được giữ theo luật)"},
    "pdf.outcome.no_data": {"ko": "보유 정보 없음", "en": "holds nothing", "vi": "không lưu thông tin"},
    "pdf.outcome.failed": {"ko": "처리하지 못함", "en": "could not be done", "vi": "không thực hiện được"},
    "pdf.outcome.sent": {"ko": "처리 중", "en": "in progress", "vi": "đang xử lý"},
    "pdf.outcome.answered": {"ko": "처리됨", "en": "done", "vi": "đã xử lý"},
    "result.legal_ground": {"ko": "거절 근거", "en": "Legal ground of the refusal", "vi": "Căn cứ pháp lý của việc từ chối"},
    "result.how_to_object": {"ko": "이의신청 방법", "en": "How to object", "vi": "Cách phản đối"},
    "result.remedies": {"ko": "병원 밖에서 도움을 받을 수 있는 곳", "en": "Where else you can turn",
                        "vi": "Nơi khác bạn có thể liên hệ"},
    "result.remedies.help": {
        "ko": "개인정보 침해에 대한 신고나 상담은 아래 기관에도 하실 수 있습니다.",
        "en": "You can also report a privacy violation to, or ask advice from, these bodies:",
        "vi": "Bạn cũng có thể báo cáo vi phạm hoặc xin tư vấn về dữ liệu cá nhân tại các cơ quan sau:",
    },
    "result.phone": {"ko": "전화", "en": "Phone", "vi": "Điện thoại"},
    "result.answer": {"ko": "개인정보 보호책임자의 답변", "en": "The privacy officer's answer",
                      "vi": "Câu trả lời của người phụ trách bảo vệ dữ liệu"},
    "download": {"ko": "결과 내려받기 (JSON)", "en": "Download the result (JSON)", "vi": "Tải kết quả (JSON)"},
    "granted": {"ko": "동의함", "en": "given", "vi": "đã đồng ý"},
    "withdrawn_c": {"ko": "철회함", "en": "withdrawn", "vi": "đã rút lại"},
    "new_request": {"ko": "새 요청하기", "en": "File another request", "vi": "Gửi yêu cầu khác"},
}

#: Retention classes, in plain words (the periods come from shared.rules.retention).
RETENTION_NAMES: dict[str, dict[str, str]] = {
    "medical_record": {"ko": "진료기록부", "en": "Medical records", "vi": "Hồ sơ bệnh án"},
    "surgery_record": {"ko": "수술기록", "en": "Surgery records", "vi": "Hồ sơ phẫu thuật"},
    "patient_roster": {"ko": "환자 명부", "en": "Patient roster", "vi": "Danh sách bệnh nhân"},
    "test_findings": {"ko": "검사 소견", "en": "Test findings", "vi": "Kết quả xét nghiệm"},
    "radiology": {"ko": "방사선 사진과 소견", "en": "X-ray images and findings", "vi": "Phim X-quang và kết quả"},
    "nursing_record": {"ko": "간호기록", "en": "Nursing records", "vi": "Hồ sơ điều dưỡng"},
    "prescription": {"ko": "처방전", "en": "Prescriptions", "vi": "Đơn thuốc"},
    "certificate_copy": {"ko": "진단서 등 사본", "en": "Copies of certificates", "vi": "Bản sao giấy chứng nhận"},
    "complaint_record": {"ko": "소비자 불만·분쟁 기록", "en": "Complaints and disputes", "vi": "Hồ sơ khiếu nại, tranh chấp"},
    "credit_information": {"ko": "신용정보", "en": "Credit information", "vi": "Thông tin tín dụng"},
    "identity_verification": {"ko": "본인확인 기록", "en": "Identity-check records", "vi": "Hồ sơ xác minh danh tính"},
    "access_log": {"ko": "웹사이트 접속 기록", "en": "Website visit logs", "vi": "Nhật ký truy cập trang web"},
    "membership": {"ko": "회원 정보 (탈퇴 시까지)", "en": "Membership data (until you leave)",
                   "vi": "Dữ liệu thành viên (đến khi hủy tài khoản)"},
    "marketing": {"ko": "마케팅 정보 (동의 철회 시까지)", "en": "Marketing data (until consent is withdrawn)",
                  "vi": "Dữ liệu quảng cáo (đến khi rút lại đồng ý)"},
}

TYPES = ("access", "rectification", "erasure", "restriction", "consent_withdrawal", "membership_withdrawal", "objection",
         "complaint")
WHO = ("self", "legal_representative", "agent")
#: Where the person lives, as the form asks: a law (it may add to the clinic's), or another country.
RESIDENCES = ("KR", "VN", "EU", "other")
#: The purposes a consent-withdrawal request can name (the catalogue's, shared/rules/purposes.py).
PURPOSES = WITHDRAWABLE_PURPOSES

#: The values of the law that texts name ({kr_days}…), from shared/rules: a text never repeats one.
RULE_VALUES: dict[str, Any] = {
    "kr_days": ANSWER_TIMES["KR"].answer.days,
    "vn_days": ANSWER_TIMES["VN"].answer.days,
    "vn_days_processor": ANSWER_TIMES["VN"].answer_with_processor.days,  # type: ignore[union-attr]
    "vn_ack_days": ANSWER_TIMES["VN"].acknowledge_working_days,
    "eu_months": ANSWER_TIMES["EU"].answer.months,
    "kr_minor_below": MINOR_BELOW["KR"],
    "medical_record_years": RETENTION_CLASSES["medical_record"].years,
}


class _Values(dict):
    """Placeholders filled from the call's values, then the rules'; any other left as written."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"

_MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
              "October", "November", "December")


def t(lang: str, key: str, **values: Any) -> str:
    """The text ``key`` in ``lang`` (English when a key is unknown in that language)."""
    entry = M.get(key) or RETENTION_NAMES.get(key)
    if entry is None:
        return key
    text = entry.get(lang) or entry["en"]
    return text.format_map(_Values(RULE_VALUES, **values)) if "{" in text else text


def format_date(lang: str, day: date | datetime) -> str:
    if lang == "ko":
        return f"{day.year}년 {day.month}월 {day.day}일"
    if lang == "vi":
        return f"ngày {day.day} tháng {day.month} năm {day.year}"
    return f"{day.day} {_MONTHS_EN[day.month - 1]} {day.year}"


def format_moment(lang: str, moment: datetime) -> str:
    return f"{format_date(lang, moment)} {moment:%H:%M}"


def pick_language(query: str | None, cookie: str | None, accept: str | None) -> str:
    """``?lang=`` first, then the cookie, then the browser's Accept-Language, then Korean."""
    for choice in (query, cookie):
        if choice in LANGUAGES:
            return choice
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and quality > 0:
            ranked.append((-quality, index, primary))
    return sorted(ranked)[0][2] if ranked else "ko"
